#!/usr/bin/env python3
"""TPC-H on Orbit beside PostgreSQL and DuckDB, in one run on one machine.

    benches/tpch.sh target/release/orbit [--sf 1] [--timeout 300] [--queries 1,3,6]

Steps:
  1. Generate the data with tpchgen-cli (`.tbl` files) and strip each line's trailing `|`.
  2. Start Orbit (`orbit serve`) and a PostgreSQL (Debian's 15, initdb in a temporary
     directory).
  3. Load both with COPY, create the usual secondary indexes (benches/tpch/indexes.sql),
     ANALYZE and CHECKPOINT. DuckDB loads the same files in-process.
  4. Run each query once per system to warm it up, then time one run each: execute plus
     fetch, with `statement_timeout` on the servers.
  5. Check Orbit's rows against PostgreSQL's. Numbers must agree to 1e-6 relative or 0.005
     absolute, and char(n) padding is ignored. Rows must come in the same order, except
     ties in ORDER BY: when the query's keys tie, an order that differs only there is
     reported as "ok (ties)".

Prints one line per query and a summary, and writes every figure to --out (JSON).
"""
import argparse
import datetime
import decimal
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import duckdb
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries(sf):
    text = open(os.path.join(HERE, "tpch", "queries.sql")).read()
    parts = re.split(r"^-- Q(\d+)\n", text, flags=re.M)
    out = {}
    for i in range(1, len(parts), 2):
        out[int(parts[i])] = parts[i + 1].strip().rstrip(";").replace(
            "{fraction}", repr(0.0001 / sf))
    return out


def statements(path):
    text = open(path).read()
    return [s.strip() for s in re.sub(r"--.*", "", text).split(";") if s.strip()]


def generate(tpchgen, sf, dir):
    raw = os.path.join(dir, "raw")
    os.makedirs(raw, exist_ok=True)
    t = time.time()
    subprocess.run([tpchgen, "-s", str(sf), "--output-dir", raw], check=True)
    for table in TABLES:
        src = os.path.join(raw, f"{table}.tbl")
        with open(src, "rb") as f, open(os.path.join(dir, f"{table}.csv"), "wb") as out:
            for block in iter(lambda: f.readlines(1 << 22), []):
                out.write(b"".join(line[:-2] + b"\n" if line.endswith(b"|\n") else line
                                   for line in block))
        os.remove(src)
    print(f"generated SF {sf} in {time.time() - t:.1f} s", file=sys.stderr)


def start_orbit(binary, dir):
    port = free_port()
    log = open(os.path.join(dir, "orbit.log"), "a")
    proc = subprocess.Popen([binary, "serve", "--data-dir", os.path.join(dir, "orbit"),
                             "--resp-addr", "127.0.0.1:0", "--http-addr", "",
                             "--pg-addr", f"127.0.0.1:{port}",
                             # The same memory for blocks as PostgreSQL's shared_buffers below.
                             "--cache-size", "2G"], stderr=log, stdout=log)
    return proc, port


def start_pg(dir):
    port = free_port()
    data = os.path.join(dir, "pg")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if os.getuid() == 0:
        shutil.chown(dir, "postgres")
    subprocess.run(as_pg + [f"{PGBIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust"],
                   check=True, stdout=subprocess.DEVNULL)
    opts = (f"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c shared_buffers=2GB "
            "-c work_mem=256MB -c max_parallel_workers_per_gather=2")
    subprocess.run(as_pg + [f"{PGBIN}/pg_ctl", "-D", data, "-l", os.path.join(dir, "pg.log"),
                            "-w", "start", "-o", opts], check=True, stdout=subprocess.DEVNULL)
    return (lambda: subprocess.run(as_pg + [f"{PGBIN}/pg_ctl", "-D", data, "-m", "fast",
                                            "stop"], stdout=subprocess.DEVNULL)), port


def connect(port, tries=100):
    for _ in range(tries):
        try:
            return psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                                   dbname="postgres", autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise RuntimeError(f"no server on port {port}")


def load_server(name, conn, dir):
    t = time.time()
    with conn.cursor() as cur:
        for s in statements(os.path.join(HERE, "tpch", "schema.sql")):
            cur.execute(s)
        for table in TABLES:
            t1 = time.time()
            with cur.copy(f"COPY {table} FROM STDIN WITH (DELIMITER '|')") as cp:
                with open(os.path.join(dir, f"{table}.csv"), "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        cp.write(chunk)
            print(f"{name}: {table} loaded in {time.time() - t1:.1f} s", file=sys.stderr)
        loaded = time.time() - t
        t2 = time.time()
        for s in statements(os.path.join(HERE, "tpch", "indexes.sql")):
            cur.execute(s)
        indexed = time.time() - t2
        t3 = time.time()
        try:
            cur.execute("analyze")
        except psycopg.Error as e:
            print(f"{name}: analyze: {e}", file=sys.stderr)
        analyzed = time.time() - t3
        # Both servers write out what the load left in memory before the queries: PostgreSQL
        # its dirty buffers, Orbit its memtables, waiting for compaction to settle.
        t4 = time.time()
        cur.execute("checkpoint")
        checkpointed = time.time() - t4
    print(f"{name}: load {loaded:.1f} s, indexes {indexed:.1f} s, analyze {analyzed:.1f} s, "
          f"checkpoint {checkpointed:.1f} s", file=sys.stderr)
    return {"load_s": loaded, "index_s": indexed, "analyze_s": analyzed,
            "checkpoint_s": checkpointed}


def load_duckdb(dir):
    con = duckdb.connect()
    con.execute("set threads = %d" % os.cpu_count())
    t = time.time()
    for s in statements(os.path.join(HERE, "tpch", "schema.sql")):
        con.execute(s)
    for table in TABLES:
        path = os.path.join(dir, f"{table}.csv")
        con.execute(f"copy {table} from '{path}' (delimiter '|', header false)")
    print(f"duckdb: load {time.time() - t:.1f} s", file=sys.stderr)
    return con


def run_server(conn, sql, timeout):
    with conn.cursor() as cur:
        cur.execute(f"set statement_timeout = '{timeout}s'")
        t = time.time()
        cur.execute(sql)
        rows = cur.fetchall()
        return time.time() - t, rows


def run_duckdb(con, sql):
    t = time.time()
    rows = con.execute(sql).fetchall()
    return time.time() - t, rows


def timed(run):
    """Warms up, then times one run; returns (seconds, rows) or (None, error text)."""
    try:
        run()
        return run()
    except Exception as e:  # an error or a timeout is a result to report, not a crash
        return None, str(e).strip().splitlines()[0][:200]


def norm(v):
    if isinstance(v, (decimal.Decimal, float, int)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, str):
        return v.rstrip()
    return v


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(0.005, 1e-6 * max(abs(a), abs(b)))
    return a == b


def same_rows(xs, ys):
    return len(xs) == len(ys) and all(
        len(x) == len(y) and all(same_value(a, b) for a, b in zip(x, y)) for x, y in zip(xs, ys))


def check(orbit_rows, pg_rows):
    o = [tuple(norm(v) for v in r) for r in orbit_rows]
    p = [tuple(norm(v) for v in r) for r in pg_rows]
    if same_rows(o, p):
        return "ok"
    key = lambda r: tuple((x is None, str(x)) for x in r)
    if same_rows(sorted(o, key=key), sorted(p, key=key)):
        return "ok (ties)"
    return f"MISMATCH ({len(o)} rows against {len(p)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orbit", required=True)
    ap.add_argument("--tpchgen", default="tpchgen-cli")
    ap.add_argument("--sf", type=float, default=1)
    ap.add_argument("--timeout", type=int, default=300, help="per query, seconds")
    ap.add_argument("--queries", default="", help="e.g. 1,3,6 (default: all 22)")
    ap.add_argument("--dir", default="/tmp/orbit-tpch")
    ap.add_argument("--out", default="tpch.json")
    a = ap.parse_args()
    sf = int(a.sf) if a.sf == int(a.sf) else a.sf
    qs = queries(sf)
    if a.queries:
        qs = {n: qs[n] for n in map(int, a.queries.split(","))}
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    os.chmod(a.dir, 0o755)
    generate(a.tpchgen, sf, a.dir)
    orbit, oport = start_orbit(a.orbit, a.dir)
    stop_pg, pport = start_pg(a.dir)
    result = {"sf": sf, "cpus": os.cpu_count(), "timeout_s": a.timeout, "queries": {}}
    try:
        oconn, pconn = connect(oport), connect(pport)
        result["orbit_load"] = load_server("orbit", oconn, a.dir)
        result["postgresql_load"] = load_server("postgresql", pconn, a.dir)
        duck = load_duckdb(a.dir)
        for n, sql in qs.items():
            ot, orows = timed(lambda: run_server(oconn, sql, a.timeout))
            pt, prows = timed(lambda: run_server(pconn, sql, a.timeout))
            dt, drows = timed(lambda: run_duckdb(duck, sql))
            if ot is None:
                verdict = f"error: {orows}"
            elif pt is None:
                verdict = f"postgresql error: {prows}"
            else:
                verdict = check(orows, prows)
            if ot is None and orbit.poll() is not None:
                # The server died (the kernel's OOM killer, in the first SF 1 run): say so,
                # start it again on the same data, and go on with the next query.
                verdict = f"server died (exit {orbit.returncode}): {orows}"
                orbit, oport = start_orbit(a.orbit, a.dir)
                oconn = connect(oport, tries=600)
            elif ot is None and oconn.closed:
                oconn = connect(oport)
            result["queries"][n] = {"orbit_s": ot, "postgresql_s": pt, "duckdb_s": dt,
                                    "check": verdict}
            fmt = lambda t: "-" if t is None else f"{t:.3f}"
            print(f"Q{n}: orbit {fmt(ot)} s, postgresql {fmt(pt)} s, duckdb {fmt(dt)} s: "
                  f"{verdict}", flush=True)
    finally:
        orbit.terminate()
        orbit.wait()
        stop_pg()
    done = [q for q in result["queries"].values() if q["check"].startswith("ok")]
    total = lambda k: sum(q[k] for q in done if q[k] is not None)
    summary = {"correct": len(done), "of": len(result["queries"]),
               "orbit_s": total("orbit_s"), "postgresql_s": total("postgresql_s"),
               "duckdb_s": total("duckdb_s")}
    result["summary"] = summary
    print(json.dumps(summary))
    json.dump(result, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
