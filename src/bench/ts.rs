//! `orbit bench ts`: a time-series load over the RESP port, for Orbit or a RedisTimeSeries
//! (`--server`), so both are measured by the same client in the same run.
//!
//! 1. `TS.CREATE` `--series` series `ts:{i}` (labels `group` = i % 10, `id` = i) and `ts:big`.
//! 2. Ingest: `--threads` connections, each owning a share of the series, send `TS.MADD` with
//!    `--batch` samples each, `--pipeline` commands in flight: every series gets `--samples`
//!    samples one second apart (a regular-interval gauge: 20.0 + small steps), then `ts:big`
//!    gets `--big`. Reports samples/s.
//! 3. Storage: `TS.INFO` memoryUsage summed over the series, per sample.
//! 4. Queries, 20 runs each, median and p90 latency: `TS.RANGE ts:big - + AGGREGATION avg 60000`
//!    and `TS.MRANGE - + AGGREGATION avg 3600000 FILTER group=(0,...,9) GROUPBY group REDUCE sum`.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::cli::BenchArgs;

/// Timestamps start here (2026-01-01T00:00:00Z), one sample a second.
const T0: i64 = 1_767_225_600_000;

struct Conn {
    r: BufReader<TcpStream>,
    w: BufWriter<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn {
            r: BufReader::with_capacity(1 << 16, s.try_clone()?),
            w: BufWriter::with_capacity(1 << 16, s),
        })
    }

    fn send(&mut self, args: &[String]) -> anyhow::Result<()> {
        write!(self.w, "*{}\r\n", args.len())?;
        for a in args {
            write!(self.w, "${}\r\n{a}\r\n", a.len())?;
        }
        Ok(())
    }

    /// Reads one reply; returns the first error it holds, if any.
    fn reply(&mut self) -> anyhow::Result<Option<String>> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            bail!("the server closed the connection");
        }
        let (kind, rest) = line.trim_end().split_at(1.min(line.len()));
        Ok(match kind {
            "-" => Some(rest.to_string()),
            "+" | ":" | "," | "#" | "_" => None,
            "$" | "=" | "!" => {
                if let Ok(n) = rest.parse::<i64>() {
                    if n >= 0 {
                        let mut buf = vec![0u8; usize::try_from(n)? + 2];
                        self.r.read_exact(&mut buf)?;
                    }
                }
                None
            }
            "*" | "~" | ">" | "%" => {
                let n = rest.parse::<i64>().unwrap_or(0).max(0) * if kind == "%" { 2 } else { 1 };
                let mut first = None;
                for _ in 0..n {
                    let e = self.reply()?;
                    first = first.or(e);
                }
                first
            }
            other => bail!("unexpected reply type {other:?}"),
        })
    }

    /// Sends `cmds` keeping `depth` in flight; fails on the first error reply.
    fn pipeline(
        &mut self,
        cmds: impl Iterator<Item = Vec<String>>,
        depth: usize,
    ) -> anyhow::Result<u64> {
        let mut in_flight = 0usize;
        let mut sent = 0u64;
        for c in cmds {
            self.send(&c)?;
            sent += 1;
            in_flight += 1;
            if in_flight >= depth {
                self.w.flush()?;
                while in_flight > depth / 2 {
                    if let Some(e) = self.reply()? {
                        bail!("error reply: {e}");
                    }
                    in_flight -= 1;
                }
            }
        }
        self.w.flush()?;
        for _ in 0..in_flight {
            if let Some(e) = self.reply()? {
                bail!("error reply: {e}");
            }
        }
        Ok(sent)
    }

    fn call(&mut self, args: &[&str]) -> anyhow::Result<()> {
        self.send(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        self.w.flush()?;
        match self.reply()? {
            Some(e) => bail!("{}: {e}", args.join(" ")),
            None => Ok(()),
        }
    }
}

fn value(series: u64, j: u64) -> f64 {
    20.0 + ((j / 10) % 20) as f64 * 0.5 + (series % 7) as f64
}

/// MADD commands for `series` (ids), samples `[0, n)`, `batch` samples per command.
fn madds(series: Vec<String>, n: u64, batch: usize) -> impl Iterator<Item = Vec<String>> {
    let per = series.len().max(1);
    let total = n * per as u64;
    let batch = batch.max(1) as u64;
    (0..total.div_ceil(batch)).map(move |b| {
        let mut c = vec!["TS.MADD".to_string()];
        for k in b * batch..((b + 1) * batch).min(total) {
            let (j, s) = (k / per as u64, (k % per as u64) as usize);
            let id = series.get(s).cloned().unwrap_or_default();
            c.push(id.clone());
            c.push((T0 + j as i64 * 1000).to_string());
            c.push(format!("{}", value(s as u64, j)));
        }
        c
    })
}

fn timed(c: &mut Conn, args: &[&str]) -> anyhow::Result<(f64, f64)> {
    let mut lat = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        c.call(args)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    Ok((lat[lat.len() / 2], lat[lat.len() * 9 / 10]))
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let addr = args.server.as_str();
    let mut c = Conn::open(addr)?;
    let created = (0..args.series)
        .map(|i| {
            vec![
                "TS.CREATE".into(),
                format!("ts:{i}"),
                "LABELS".into(),
                "group".into(),
                (i % 10).to_string(),
                "id".into(),
                i.to_string(),
            ]
        })
        .chain(std::iter::once(vec![
            "TS.CREATE".into(),
            "ts:big".into(),
            "LABELS".into(),
            "big".into(),
            "1".into(),
        ]));
    c.pipeline(created, args.pipeline)?;

    let threads = args.threads.max(1) as u64;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (addr, batch, depth, n) =
                (addr.to_string(), args.batch, args.pipeline, args.samples);
            let mine: Vec<String> = (0..args.series)
                .filter(|i| i % threads == t)
                .map(|i| format!("ts:{i}"))
                .collect();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut c = Conn::open(&addr)?;
                c.pipeline(madds(mine, n, batch), depth)?;
                Ok(0)
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("an ingest thread panicked"))??;
    }
    let small = args.series * args.samples;
    let secs = start.elapsed().as_secs_f64();
    println!("ts ingest      : {:>12.0} samples/s  ({small} samples, {} series, {threads} connections, {} per TS.MADD, pipeline {})", small as f64 / secs, args.series, args.batch, args.pipeline);
    if args.big > 0 {
        let t = Instant::now();
        c.pipeline(
            madds(vec!["ts:big".into()], args.big, args.batch),
            args.pipeline,
        )?;
        println!(
            "ts ingest big  : {:>12.0} samples/s  ({} samples, one series, one connection)",
            args.big as f64 / t.elapsed().as_secs_f64(),
            args.big
        );
    }
    let mut memory = 0u64;
    for i in (0..args.series)
        .map(|i| format!("ts:{i}"))
        .chain(std::iter::once("ts:big".to_string()))
    {
        memory += info_memory(&mut c, &i)?;
    }
    let total = small + args.big;
    println!(
        "ts memoryUsage : {:>12.2} bytes/sample (TS.INFO memoryUsage summed, {total} samples)",
        memory as f64 / total.max(1) as f64
    );
    if args.big > 0 {
        let (p50, p90) = timed(
            &mut c,
            &[
                "TS.RANGE",
                "ts:big",
                "-",
                "+",
                "AGGREGATION",
                "avg",
                "60000",
            ],
        )?;
        println!("ts range avg   : p50 {p50:8.2} ms  p90 {p90:8.2} ms  (TS.RANGE ts:big - + AGGREGATION avg 60000, {} samples)", args.big);
    }
    let (p50, p90) = timed(
        &mut c,
        &[
            "TS.MRANGE",
            "-",
            "+",
            "AGGREGATION",
            "avg",
            "3600000",
            "FILTER",
            "group=(0,1,2,3,4,5,6,7,8,9)",
            "GROUPBY",
            "group",
            "REDUCE",
            "sum",
        ],
    )?;
    println!("ts mrange group: p50 {p50:8.2} ms  p90 {p90:8.2} ms  (TS.MRANGE - + AGGREGATION avg 3600000 FILTER group=(0..9) GROUPBY group REDUCE sum, {small} samples)");
    Ok(())
}

/// TS.INFO's memoryUsage of a series.
fn info_memory(c: &mut Conn, key: &str) -> anyhow::Result<u64> {
    c.send(&["TS.INFO".to_string(), key.to_string()])?;
    c.w.flush()?;
    let mut line = String::new();
    c.r.read_line(&mut line)?;
    let n: usize = match line.trim_end().strip_prefix(['*', '%']) {
        Some(n) => n.parse::<usize>()? * if line.starts_with('%') { 2 } else { 1 },
        None => bail!("TS.INFO {key}: {}", line.trim_end()),
    };
    let mut memory = 0;
    let mut prev_name = false;
    for _ in 0..n {
        let mut l = String::new();
        c.r.read_line(&mut l)?;
        let t = l.trim_end().to_string();
        if prev_name {
            memory = t.trim_start_matches(':').parse().unwrap_or(0);
            prev_name = false;
            continue;
        }
        if t.starts_with('$') && t != "$-1" {
            let mut name = String::new();
            c.r.read_line(&mut name)?;
            prev_name = name.trim_end() == "memoryUsage";
        } else if t.starts_with('+') {
            prev_name = t == "+memoryUsage";
        } else if t.starts_with('*') || t.starts_with('%') {
            // A nested value (labels, rules): skip its elements.
            let k: i64 = t.get(1..).and_then(|x| x.parse().ok()).unwrap_or(0);
            for _ in 0..k.max(0) * if t.starts_with('%') { 2 } else { 1 } {
                c.reply()?;
            }
        }
    }
    Ok(memory)
}
