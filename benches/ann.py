#!/usr/bin/env python3
"""ANN benchmark: Orbit's `USING hnsw` through SQL over the wire, beside hnswlib and FAISS
HNSW as raw-library references, on the same clustered synthetic data and queries.

For each engine: build time, index size, and for a sweep of ef_search values the recall@10
against exact search and the queries per second with 1 and with CLIENTS clients; then, for
recall targets 0.90 / 0.95 / 0.99, the QPS at the smallest ef reaching the target.

    benches/ann.sh target/release/orbit            # sets up a venv, then runs this
    benches/ann.sh target/release/orbit --orbit-raw target/release/examples/hnsw_raw
    python3 benches/ann.py --orbit BIN --n 100000 --queries 10000 --out ann.json

Orbit is started here on a fresh data directory (--sync periodic: loading is not what is
measured), loaded with COPY, indexed with CREATE INDEX ... USING hnsw (vector_l2_ops)
WITH (m = 16, ef_construction = 64), and queried with
`SELECT id FROM items ORDER BY embedding <-> $1::vector LIMIT 10` (psycopg, text parameters,
prepared). hnswlib and FAISS get M = 16, ef_construction = 64, the build on every core;
their single-client figure is one thread answering one query per call, their multi-client
figure a batch call on CLIENTS threads. Every rate is the median of --repeat passes over
the queries (default 3: the machine is noisy, and a single client's rate moves most).
With --pgvector DSN, PostgreSQL with the pgvector extension is measured the same way (a
server the caller runs; a scratch database orbit_ann is created and dropped; index size by
pg_relation_size). Debian 12 has no pgvector package: docs/BENCHMARKS.md says how the
reference was built.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np


def clustered(n, dim, seed, clusters=1000, latent=16):
    """Points around `clusters` centres, spread along a shared `latent`-dimensional subspace
    plus a little isotropic noise: low intrinsic dimension, as real embeddings have (pure
    isotropic Gaussian clusters in 128 dimensions make every neighbour nearly equidistant).
    The centres and the subspace come from a fixed seed; `seed` draws the points."""
    base = np.random.default_rng(12345)
    centers = base.standard_normal((clusters, dim)).astype(np.float32)
    basis = base.standard_normal((latent, dim)).astype(np.float32) * 0.5
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    z = rng.standard_normal((n, latent)).astype(np.float32)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * 0.05
    return (centers[labels] + z @ basis + noise).astype(np.float32)


def exact_top10(data, queries):
    out = np.empty((len(queries), 10), dtype=np.int64)
    dn = (data.astype(np.float64) ** 2).sum(axis=1)
    for s in range(0, len(queries), 500):
        q = queries[s : s + 500].astype(np.float64)
        d = dn[None, :] - 2.0 * q @ data.T.astype(np.float64)
        idx = np.argpartition(d, 10, axis=1)[:, :10]
        order = np.take_along_axis(d, idx, axis=1).argsort(axis=1)
        out[s : s + 500] = np.take_along_axis(idx, order, axis=1)
    return out


def recall(found, truth):
    hits = sum(len(set(f[:10]) & set(t)) for f, t in zip(found, truth))
    return hits / (10 * len(truth))


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vec_text(v):
    return "[" + ",".join("%.9g" % x for x in v) + "]"


# Passes per measured rate (set from --repeat).
REPEAT = 3


def median_rate(count, f):
    """Runs f() REPEAT times: the median of count / seconds, and f's last result."""
    rates, out = [], None
    for _ in range(max(1, REPEAT)):
        t = time.time()
        out = f()
        rates.append(count / (time.time() - t))
    return statistics.median(rates), out


def connect(dsn, label):
    """An autocommit psycopg connection to `dsn`, retried for 20 s while the server starts."""
    import psycopg

    for _ in range(200):
        try:
            return psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"{label} did not start")


def bench_sql(label, dsn, data, queries, truth, efs, clients, prepare, index_size):
    """Loads `data` over `dsn` with COPY, builds the HNSW index (after `prepare`'s
    statements), and sweeps `efs` with 1 and more clients; `index_size(conn)` gives the
    index's bytes."""
    import psycopg

    conn = connect(dsn, label)
    dim = data.shape[1]
    for stmt in prepare:
        conn.execute(stmt)
    conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, embedding vector({dim}))")
    t = time.time()
    with conn.cursor() as cur:
        with cur.copy("COPY items (id, embedding) FROM STDIN") as cp:
            for i, v in enumerate(data):
                cp.write_row((i, vec_text(v)))
    load = time.time() - t
    before = index_size(conn)
    t = time.time()
    conn.execute("CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops) "
                 "WITH (m = 16, ef_construction = 64)")
    build = time.time() - t
    size = index_size(conn) - before
    texts = [vec_text(q) for q in queries]
    sql = "SELECT id FROM items ORDER BY embedding <-> %s::vector LIMIT 10"

    def run(ef, part, out, conn=None):
        own = conn is None
        c = conn or psycopg.connect(dsn, autocommit=True)
        c.execute(f"SET hnsw.ef_search = {ef}")
        for i in part:
            rows = c.execute(sql, (texts[i],), prepare=True).fetchall()
            out[i] = [r[0] for r in rows]
        if own:
            c.close()

    sweep = []
    for ef in efs:
        row = {"ef": ef}
        for n in clients:
            parts = [range(k, len(texts), n) for k in range(n)]

            def one_pass(n=n, parts=parts):
                found = [None] * len(texts)
                if n == 1:
                    run(ef, parts[0], found, conn)
                else:
                    threads = [threading.Thread(target=run, args=(ef, p, found))
                               for p in parts]
                    for th in threads:
                        th.start()
                    for th in threads:
                        th.join()
                return found

            row[f"qps_{n}"], found = median_rate(len(texts), one_pass)
            row["recall"] = recall(found, truth)
        sweep.append(row)
        print(f"{label} ef={ef} {row}", file=sys.stderr)
    conn.close()
    return {"load_s": load, "build_s": build, "index_bytes": size, "sweep": sweep}


def bench_orbit(binary, data, queries, truth, efs, clients):
    workdir = tempfile.mkdtemp(prefix="orbit-ann-")
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--data-dir", os.path.join(workdir, "data"), "--pg-addr",
         f"127.0.0.1:{port}", "--resp-addr", "127.0.0.1:0", "--http-addr", "", "--sync",
         "periodic"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    try:
        return bench_sql("orbit", dsn, data, queries, truth, efs, clients, [],
                         lambda _: dir_size(os.path.join(workdir, "data")))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_pgvector(dsn, data, queries, truth, efs, clients):
    """PostgreSQL with pgvector at `dsn` (a server the caller runs, the extension
    installed): a scratch database is created and dropped. The build gets
    maintenance_work_mem large enough for the whole graph and one parallel worker per
    further core, as pgvector's documentation advises."""
    import psycopg

    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute("DROP DATABASE IF EXISTS orbit_ann")
    admin.execute("CREATE DATABASE orbit_ann")
    try:
        workers = max(0, (os.cpu_count() or 1) - 1)
        prepare = ["CREATE EXTENSION IF NOT EXISTS vector",
                   "SET maintenance_work_mem = '8GB'",
                   f"SET max_parallel_maintenance_workers = {workers}"]
        size = lambda c: c.execute(
            "SELECT coalesce(pg_relation_size(to_regclass('items_hnsw')), 0)").fetchone()[0]
        return bench_sql("pgvector", dsn + " dbname=orbit_ann", data, queries, truth, efs,
                         clients, prepare, size)
    finally:
        admin.execute("DROP DATABASE IF EXISTS orbit_ann")
        admin.close()


def bench_orbit_raw(binary, data, queries, truth, efs):
    """Orbit's HNSW graph in-process (index/examples/hnsw_raw), no SQL: the engine's own
    figure beside hnswlib's, single thread; the difference to `orbit` is the SQL path."""
    workdir = tempfile.mkdtemp(prefix="orbit-ann-raw-")
    try:
        paths = [os.path.join(workdir, f) for f in ("data", "queries", "truth")]
        data.astype("<f4").tofile(paths[0])
        queries.astype("<f4").tofile(paths[1])
        np.asarray(truth, dtype="<u4").tofile(paths[2])
        # Each ef REPEAT times over the one build; the median rate per ef.
        passes = [ef for ef in efs for _ in range(max(1, REPEAT))]
        out = subprocess.run([binary, str(data.shape[1]), *paths, ",".join(map(str, passes))],
                             check=True, capture_output=True, text=True).stdout
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        runs = [l for l in lines if "ef" in l]
        sweep = []
        for ef in efs:
            mine = [r for r in runs if r["ef"] == ef]
            sweep.append({**mine[-1], "qps_1": statistics.median(r["qps_1"] for r in mine)})
        for row in sweep:
            print(f"orbit_raw {row}", file=sys.stderr)
        return {"build_s": lines[0]["build_s"], "sweep": sweep}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def bench_hnswlib(data, queries, truth, efs, clients):
    import hnswlib

    n, dim = data.shape
    index = hnswlib.Index(space="l2", dim=dim)
    t = time.time()
    index.init_index(max_elements=n, ef_construction=64, M=16)
    index.add_items(data, np.arange(n), num_threads=os.cpu_count())
    build = time.time() - t
    path = tempfile.mktemp(suffix=".hnsw")
    index.save_index(path)
    size = os.path.getsize(path)
    os.remove(path)
    sweep = []
    for ef in efs:
        index.set_ef(ef)
        row = {"ef": ef}
        for c in clients:
            if c == 1:
                f = lambda: np.vstack([index.knn_query(q, k=10, num_threads=1)[0]
                                       for q in queries])
            else:
                f = lambda c=c: index.knn_query(queries, k=10, num_threads=c)[0]
            row[f"qps_{c}"], labels = median_rate(len(queries), f)
            row["recall"] = recall(labels.tolist(), truth)
        sweep.append(row)
        print(f"hnswlib ef={ef} {row}", file=sys.stderr)
    return {"build_s": build, "index_bytes": size, "sweep": sweep}


def bench_faiss(data, queries, truth, efs, clients):
    import faiss

    n, dim = data.shape
    index = faiss.IndexHNSWFlat(dim, 16)
    index.hnsw.efConstruction = 64
    faiss.omp_set_num_threads(os.cpu_count())
    t = time.time()
    index.add(data)
    build = time.time() - t
    size = len(faiss.serialize_index(index))
    sweep = []
    for ef in efs:
        index.hnsw.efSearch = ef
        row = {"ef": ef}
        for c in clients:
            faiss.omp_set_num_threads(c)
            if c == 1:
                f = lambda: np.vstack([index.search(q[None, :], 10)[1] for q in queries])
            else:
                f = lambda: index.search(queries, 10)[1]
            row[f"qps_{c}"], labels = median_rate(len(queries), f)
            row["recall"] = recall(labels.tolist(), truth)
        sweep.append(row)
        print(f"faiss ef={ef} {row}", file=sys.stderr)
    return {"build_s": build, "index_bytes": size, "sweep": sweep}


def at_targets(result, clients):
    out = {}
    for target in (0.90, 0.95, 0.99):
        hit = next((r for r in result["sweep"] if r["recall"] >= target), None)
        out[str(target)] = None if hit is None else {
            "ef": hit["ef"], "recall": hit["recall"], **{f"qps_{c}": hit[f"qps_{c}"] for c in clients}}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orbit", required=True, help="the orbit binary (a release build)")
    p.add_argument("--orbit-raw", help="index/examples/hnsw_raw (a release build): also run "
                   "Orbit's graph in-process, without SQL")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--efs", default="10,20,40,80,160,320,640")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--engines", default="orbit,hnswlib,faiss")
    p.add_argument("--repeat", type=int, default=3,
                   help="passes per measured rate; the median is reported")
    p.add_argument("--pgvector", help="libpq DSN of a PostgreSQL server with pgvector "
                   "installed (without dbname), e.g. 'host=127.0.0.1 user=postgres password=x'")
    p.add_argument("--out", default="ann.json")
    a = p.parse_args()
    global REPEAT
    REPEAT = a.repeat
    data = clustered(a.n, a.dim, a.seed)
    queries = clustered(a.queries, a.dim, a.seed + 1)
    t = time.time()
    truth = exact_top10(data, queries).tolist()
    print(f"ground truth in {time.time() - t:.1f} s", file=sys.stderr)
    efs = [int(x) for x in a.efs.split(",")]
    clients = [1, a.clients]
    results = {"n": a.n, "queries": a.queries, "dim": a.dim, "seed": a.seed,
               "cpus": os.cpu_count(), "clients": a.clients}
    engines = a.engines.split(",")
    if "hnswlib" in engines:
        results["hnswlib"] = bench_hnswlib(data, queries, truth, efs, clients)
    if "faiss" in engines:
        results["faiss"] = bench_faiss(data, queries, truth, efs, clients)
    if a.orbit_raw:
        results["orbit_raw"] = bench_orbit_raw(a.orbit_raw, data, queries, truth, efs)
    if "orbit" in engines:
        results["orbit"] = bench_orbit(a.orbit, data, queries, truth, efs, clients)
    if a.pgvector:
        results["pgvector"] = bench_pgvector(a.pgvector, data, queries, truth, efs, clients)
    for name in ("orbit", "hnswlib", "faiss", "pgvector"):
        if name in results:
            results[name]["at_recall"] = at_targets(results[name], clients)
    if "orbit_raw" in results:
        results["orbit_raw"]["at_recall"] = at_targets(results["orbit_raw"], [1])
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps({k: v.get("at_recall") if isinstance(v, dict) else v
                      for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
