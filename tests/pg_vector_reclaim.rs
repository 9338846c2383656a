//! The HNSW reclaimer over the PostgreSQL protocol, with tokio-postgres: after DELETE and
//! UPDATE, `VACUUM` has the background reclaimer remove the nodes no transaction can see,
//! not before an older transaction that still sees them ends; searches stay exact-ordered
//! and complete; later inserts reuse the slots; a kill -9 and restart keep all of it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::pg::{connect, rt, simple};
use common::{metric, Server};

const DIM: usize = 8;

/// Row `i`'s vector: pseudo-random (splitmix64), so no two rows are alike and distances
/// do not tie (a lattice of vectors made the tenth and eleventh nearest tie).
fn vector(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|j| {
            let mut z = ((i * DIM + j) as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z % 100_000) as f32 / 1000.0
        })
        .collect()
}

fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

async fn insert(c: &tokio_postgres::Client, rows: &[(usize, Vec<f32>)]) {
    for chunk in rows.chunks(200) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, v)| format!("({id}, '{}')", literal(v)))
            .collect();
        c.batch_execute(&format!("INSERT INTO items VALUES {}", values.join(",")))
            .await
            .unwrap();
    }
}

/// The ids of the `k` rows nearest `q` through the index, and by brute force over `rows`,
/// each sorted (the server and this test round distances differently, so near-ties may
/// come in either order).
async fn nearest(
    c: &tokio_postgres::Client,
    q: &[f32],
    k: usize,
    rows: &[(usize, Vec<f32>)],
) -> (Vec<usize>, Vec<usize>) {
    let sql = format!(
        "SELECT id FROM items ORDER BY v <-> '{}' LIMIT {k}",
        literal(q)
    );
    let mut got: Vec<usize> = simple(c, &sql)
        .await
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect();
    got.sort_unstable();
    let mut all: Vec<(f32, usize)> = rows
        .iter()
        .map(|(id, v)| {
            let d: f32 = v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            (d, *id)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut want: Vec<usize> = all.iter().take(k).map(|p| p.1).collect();
    want.sort_unstable();
    (got, want)
}

/// Waits until `/metrics` shows `name` at `want` or more; its last value.
fn await_metric(server: &Server, name: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = metric(server.http_port, name);
        if v >= want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LIVE: &str = "orbit_vector_index_nodes{state=\"live\"}";
const VACANT: &str = "orbit_vector_index_nodes{state=\"vacant\"}";
const RECLAIMED: &str = "orbit_vector_nodes_reclaimed_total";
const ROUNDS: &str = "orbit_vector_reclaim_rounds_total";

#[test]
fn vacuum_reclaims_dead_nodes_once_no_transaction_sees_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let server = Server::start(&data_dir, &[]);
    // The rows as they end up: 0..600, every third deleted, 50 of the others moved.
    let mut rows: Vec<(usize, Vec<f32>)> = (0..600).map(|i| (i, vector(i))).collect();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(&format!(
            "CREATE TABLE items (id int PRIMARY KEY, v vector({DIM}))"
        ))
        .await
        .unwrap();
        insert(&c, &rows).await;
        c.batch_execute("CREATE INDEX items_v ON items USING hnsw (v vector_l2_ops)")
            .await
            .unwrap();
        assert_eq!(metric(server.http_port, LIVE), 600);

        // A transaction that began before the deletes still sees those rows.
        // A beam over most of the graph: the index's answers are exact here.
        c.batch_execute("SET hnsw.ef_search = 300").await.unwrap();
        let old = connect(&server).await;
        old.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        assert_eq!(
            simple(&old, "SELECT count(*) FROM items").await[0][0].as_deref(),
            Some("600")
        );
        c.batch_execute("DELETE FROM items WHERE id % 3 = 0")
            .await
            .unwrap();
        for id in (1..150).step_by(3) {
            let v = vector(5000 + id);
            c.batch_execute(&format!(
                "UPDATE items SET v = '{}' WHERE id = {id}",
                literal(&v)
            ))
            .await
            .unwrap();
            rows[id].1 = v;
        }
        rows.retain(|(id, _)| id % 3 != 0);
        c.batch_execute("VACUUM items").await.unwrap();
        let rounds = metric(server.http_port, ROUNDS);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            metric(server.http_port, RECLAIMED),
            0,
            "reclaimed under an older snapshot"
        );
        assert_eq!(
            metric(server.http_port, ROUNDS),
            rounds,
            "a round ended under it"
        );
        let (got, _) = nearest(&old, &vector(0), 1, &[]).await;
        assert_eq!(got, vec![0], "the older transaction lost a row it can see");
        old.batch_execute("COMMIT").await.unwrap();

        // 200 deleted rows and the old nodes of 50 updated ones.
        assert_eq!(await_metric(&server, RECLAIMED, 250), 250);
        assert_eq!(metric(server.http_port, LIVE), 400);
        assert_eq!(metric(server.http_port, VACANT), 250);
        for i in (0..600).step_by(7) {
            let (got, want) = nearest(&c, &vector(i), 10, &rows).await;
            assert_eq!(got, want, "query {i}");
        }

        // The next round frees the slots; inserts take them instead of growing the graph.
        let rounds = metric(server.http_port, ROUNDS);
        c.batch_execute("VACUUM").await.unwrap();
        await_metric(&server, ROUNDS, rounds + 1);
        let new: Vec<(usize, Vec<f32>)> = (1000..1250).map(|i| (i, vector(i))).collect();
        insert(&c, &new).await;
        rows.extend(new);
        assert_eq!(metric(server.http_port, LIVE), 650);
        assert_eq!(metric(server.http_port, VACANT), 0);
    });
    server.kill9();
    let server = Server::start(&data_dir, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("SET hnsw.ef_search = 300").await.unwrap();
        for i in (0..1250).step_by(11) {
            let (got, want) = nearest(&c, &vector(i), 10, &rows).await;
            assert_eq!(got, want, "query {i} after the restart");
        }
        assert_eq!(metric(server.http_port, LIVE), 650);
        assert_eq!(metric(server.http_port, VACANT), 0);
    });
    server.stop();
}
