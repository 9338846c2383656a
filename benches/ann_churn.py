#!/usr/bin/env python3
"""Vector index churn: what deletes, VACUUM and new inserts do to an HNSW index in Orbit.

    benches/ann.sh BIN ...                      # once: makes the venv
    /tmp/orbit-ann-venv/bin/python benches/ann_churn.py --orbit BIN --n 100000 --churn 0.2

On one server (--sync periodic): load --n clustered vectors (benches/ann.py's data), build
`USING hnsw` (m 16, ef_construction 64), and measure recall@10 and single-client queries/s
at --efs. Then delete a --churn share of the rows (random ids), run VACUUM and time until
the background reclaimer has removed their nodes (`/metrics`); measure again. Then insert
as many new rows (fresh points of the same distribution; the freed slots are reused) and
measure again. Last, the same final rows in a second table with an index built from
scratch: the reference the churned index is compared with. Recall is against exact search
over the rows present at each step.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ann  # noqa: E402


def metric(port, name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise KeyError(name)


def load(conn, table, ids, vectors):
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} (id, embedding) FROM STDIN") as cp:
            for i, v in zip(ids, vectors):
                cp.write_row((int(i), ann.vec_text(v)))


def measure(conn, table, ids, vectors, queries, efs, label):
    """recall@10 and 1-client queries/s at each ef, over the rows (ids, vectors)."""
    truth = [[int(ids[j]) for j in row] for row in ann.exact_top10(vectors, queries)]
    texts = [ann.vec_text(q) for q in queries]
    sql = f"SELECT id FROM {table} ORDER BY embedding <-> %s::vector LIMIT 10"
    out = []
    for ef in efs:
        conn.execute(f"SET hnsw.ef_search = {ef}")

        def one_pass():
            return [[r[0] for r in conn.execute(sql, (t,), prepare=True).fetchall()]
                    for t in texts]

        qps, found = ann.median_rate(len(texts), one_pass)
        row = {"ef": ef, "recall": ann.recall(found, truth), "qps_1": qps}
        out.append(row)
        print(f"{label} {row}", file=sys.stderr)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orbit", required=True)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=2_000)
    p.add_argument("--churn", type=float, default=0.2)
    p.add_argument("--efs", default="40,80,160")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="ann_churn.json")
    a = p.parse_args()
    ann.REPEAT = a.repeat
    efs = [int(x) for x in a.efs.split(",")]
    data = ann.clustered(a.n, a.dim, 42)
    queries = ann.clustered(a.queries, a.dim, 43)
    k = int(a.n * a.churn)
    rng = np.random.default_rng(7)
    gone = np.sort(rng.choice(a.n, k, replace=False))
    keep = np.setdiff1d(np.arange(a.n), gone)
    fresh = ann.clustered(k, a.dim, 44)
    workdir = tempfile.mkdtemp(prefix="orbit-churn-")
    port, http = ann.free_port(), ann.free_port()
    server = subprocess.Popen(
        [a.orbit, "serve", "--data-dir", os.path.join(workdir, "data"), "--pg-addr",
         f"127.0.0.1:{port}", "--resp-addr", "127.0.0.1:0", "--http-addr",
         f"127.0.0.1:{http}", "--sync", "periodic"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    out = {"n": a.n, "dim": a.dim, "queries": a.queries, "churn": a.churn}
    try:
        conn = ann.connect(dsn, "orbit")
        for table in ("items", "rebuilt"):
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, embedding vector({a.dim}))")
        load(conn, "items", range(a.n), data)
        t = time.time()
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
        out["build_s"] = time.time() - t
        out["before"] = measure(conn, "items", np.arange(a.n), data, queries, efs, "before")

        t = time.time()
        for s in range(0, k, 5_000):
            ids = ",".join(str(int(i)) for i in gone[s:s + 5_000])
            conn.execute(f"DELETE FROM items WHERE id IN ({ids})")
        out["delete_s"] = time.time() - t
        reclaimed = metric(http, "orbit_vector_nodes_reclaimed_total")
        t = time.time()
        conn.execute("VACUUM items")
        while metric(http, "orbit_vector_nodes_reclaimed_total") < reclaimed + k:
            time.sleep(0.05)
        out["reclaim_s"] = time.time() - t
        out["after_delete"] = measure(conn, "items", keep, data[keep], queries, efs,
                                      "after delete + reclaim")

        # The next round frees the slots; the inserts reuse them.
        rounds = metric(http, "orbit_vector_reclaim_rounds_total")
        conn.execute("VACUUM items")
        while metric(http, "orbit_vector_reclaim_rounds_total") < rounds + 1:
            time.sleep(0.05)
        new_ids = np.arange(a.n, a.n + k)
        load(conn, "items", new_ids, fresh)
        out["vacant_after_insert"] = metric(
            http, 'orbit_vector_index_nodes{state="vacant"}')
        final_ids = np.concatenate([keep, new_ids])
        final = np.vstack([data[keep], fresh])
        out["after_insert"] = measure(conn, "items", final_ids, final, queries, efs,
                                      "after re-insert")
        load(conn, "rebuilt", final_ids, final)
        conn.execute("CREATE INDEX ON rebuilt USING hnsw (embedding vector_l2_ops)")
        out["rebuilt"] = measure(conn, "rebuilt", final_ids, final, queries, efs,
                                 "built afresh")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
