//! The HNSW graph in-process, without SQL: builds `orbit_index::hnsw::Graph` on every core
//! from raw little-endian f32 files and reports build time, then recall@10 and single-thread
//! queries per second for each ef. `benches/ann.py --raw` runs it on the benchmark's data, so
//! the engine can be compared with hnswlib call for call, apart from the SQL path.
//!
//!     cargo run --release -p orbit-index --example hnsw_raw -- DIM DATA QUERIES TRUTH EFS
//!
//! DATA and QUERIES hold `n * DIM` floats, TRUTH `queries * 10` little-endian u32 ids, EFS is
//! a comma-separated list. Prints one JSON object per line.

use std::time::Instant;

use orbit_index::hnsw::graph::Graph;
use orbit_index::hnsw::{Metric, Params};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn floats(path: &str) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dim, data, queries, truth, efs] = &args[..] else {
        return Err("usage: hnsw_raw DIM DATA QUERIES TRUTH EFS".into());
    };
    let dim: usize = dim.parse()?;
    let data = floats(data)?;
    let queries = floats(queries)?;
    let truth: Vec<u32> = floats(truth)?.into_iter().map(f32::to_bits).collect();
    let g = Graph::new(Params {
        metric: Metric::L2,
        dim: dim as u32,
        m: 16,
        ef_construction: 64,
        quantize: true,
    });
    let t = Instant::now();
    g.insert_all(
        data.chunks_exact(dim)
            .map(|v| (v.into(), Box::new([]) as Box<[u8]>))
            .collect(),
    );
    println!("{{\"build_s\": {:.3}}}", t.elapsed().as_secs_f64());
    for ef in efs.split(',') {
        let ef: usize = ef.parse()?;
        let t = Instant::now();
        let found: Vec<Vec<u32>> = queries
            .chunks_exact(dim)
            .map(|q| g.search(q, ef).iter().take(10).map(|s| s.node).collect())
            .collect();
        let secs = t.elapsed().as_secs_f64();
        let hits: usize = found
            .iter()
            .zip(truth.chunks_exact(10))
            .map(|(f, t)| f.iter().filter(|n| t.contains(n)).count())
            .sum();
        println!(
            "{{\"ef\": {ef}, \"recall\": {:.5}, \"qps_1\": {:.1}}}",
            hits as f64 / (10 * found.len()) as f64,
            found.len() as f64 / secs
        );
    }
    Ok(())
}
