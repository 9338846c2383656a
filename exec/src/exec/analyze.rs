//! ANALYZE (and VACUUM ANALYZE): gathers each table's planner statistics ([`TableStats`])
//! and stores them in its catalog entry, in the statement's transaction. Plain VACUUM is a
//! no-op with PostgreSQL's tag: the LSM compacts in the background.
//!
//! One pass over the table counts its rows and NULLs exactly and keeps a uniform sample of
//! up to [`SAMPLE_ROWS`] rows (reservoir sampling with a fixed seed, so a table analyzed twice
//! without changes gets the same statistics). From the sample, per column: distinct values
//! (exact when the sample is the whole table, else the Haas-Stokes estimator PostgreSQL
//! uses), the most common values, and an equal-depth histogram of the rest.

use std::ops::Bound;
use std::sync::Arc;

use orbit_lsm::Direction;
use sqlparser::ast;

use super::query::successor;
use super::{Ctx, Outcome};
use crate::catalog::{ColumnStats, Key, TableDef, TableStats};
use crate::error::{code, Error, Result};
use crate::row::{append_key, decode_row, index_prefix};

/// Rows sampled per table (PostgreSQL: 300 x default_statistics_target 100).
pub const SAMPLE_ROWS: usize = 30_000;
/// Most common values kept per column.
const MCV_MAX: usize = 100;
/// Histogram buckets per column.
const BUCKETS: usize = 100;
/// Values with longer keys are counted but left out of MCVs and histograms (PostgreSQL
/// skips values over 1 kB the same way).
const WIDE: usize = 1024;

/// ANALYZE of the tables named (see `parse::analyze_of`), else of every table of the
/// database.
pub(super) fn statement(ctx: &mut Ctx<'_>, a: &ast::Analyze) -> Result<Outcome> {
    let mut tables = Vec::new();
    for name in a.partitions.iter().flatten() {
        let ast::Expr::CompoundIdentifier(parts) = name else {
            continue;
        };
        let name = ast::ObjectName(
            parts
                .iter()
                .cloned()
                .map(ast::ObjectNamePart::Identifier)
                .collect(),
        );
        tables.push(ctx.resolve_table(&name)?);
    }
    if tables.is_empty() {
        tables = ctx.catalog().tables()?;
    }
    if a.compute_statistics {
        reclaim_vectors(ctx, &tables);
    }
    analyze(ctx, tables)?;
    let tag = if a.compute_statistics {
        "VACUUM"
    } else {
        "ANALYZE"
    };
    Ok(Outcome::Command(tag.into()))
}

/// VACUUM without ANALYZE: asks for a reclaim of the vector indexes of the table named (of
/// every table without a name; see `ann_reclaim`), which the background reclaimer runs once
/// the transactions older than this one have ended.
pub(super) fn vacuum(ctx: &mut Ctx<'_>, table: Option<&ast::ObjectName>) -> Result<Outcome> {
    let tables = match table {
        Some(t) => vec![ctx.resolve_table(t)?],
        None => ctx.catalog().tables()?,
    };
    reclaim_vectors(ctx, &tables);
    Ok(Outcome::Command("VACUUM".into()))
}

/// CHECKPOINT: everything written so far goes from memory to tables, and the statement
/// waits for compaction to settle (Orbit's counterpart of PostgreSQL's writing out of dirty
/// buffers: after a bulk load, the work that would otherwise run beside the first queries),
/// for at most statement_timeout: writes that go on may keep compaction busy.
///
/// The waiting is done on a thread of its own and handed to the caller as a wait: a flush
/// waits for the writes in memory to be published, which the tasks of this statement's own
/// worker thread may owe, so blocking that thread could stall the flush and the server.
pub(super) fn checkpoint(ctx: &mut Ctx<'_>) -> Result<Outcome> {
    let db = Arc::clone(ctx.engine.txn_db().db());
    let deadline = ctx.interrupts.deadline;
    let done = orbit_txn::Completion::new();
    let finished = Arc::clone(&done);
    std::thread::Builder::new()
        .name("orbit-checkpoint".into())
        .spawn(move || {
            // Past the deadline the statement ends with compaction still at work.
            let outcome = db
                .settle(deadline)
                .map(|_| 0)
                .map_err(|e| orbit_txn::Failure::Log(format!("checkpoint: {e}")));
            finished.complete(outcome);
        })
        .map_err(|e| Error::new(code::INTERNAL_ERROR, format!("checkpoint: {e}")))?;
    ctx.waits.push(orbit_txn::Pending::Replicated(done));
    Ok(Outcome::Command("CHECKPOINT".into()))
}

/// Asks for a reclaim round over the vector indexes of `tables`.
fn reclaim_vectors(ctx: &Ctx<'_>, tables: &[TableDef]) {
    for index in tables.iter().flat_map(|t| &t.indexes) {
        if let Some(def) = &index.ann {
            ctx.engine.ann.request(def.store);
        }
    }
}

/// Analyzes `tables`.
fn analyze(ctx: &mut Ctx<'_>, tables: Vec<TableDef>) -> Result<()> {
    for mut table in tables {
        let stats = gather(ctx, &table)?;
        table.stats = Some(Arc::new(stats));
        ctx.catalog().put_table(&table)?;
    }
    Ok(())
}

/// splitmix64: a small, well-mixed generator for the reservoir (no need for a crate).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One scan of `table`: exact row and NULL counts, and a sample of each column's keys.
fn gather(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<TableStats> {
    let width = table.columns.len();
    let prefix = index_prefix(table.id, 0);
    let range = (
        Bound::Included(prefix.clone()),
        Bound::Excluded(successor(&prefix)),
    );
    let mut rows = 0usize;
    let mut nulls = vec![0usize; width];
    // sample[r][c]: column c's key in sampled row r (None: NULL).
    let mut sample: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    let mut rng = Rng(u64::from(table.id));
    let (interrupts, engine) = (ctx.interrupts.clone(), ctx.engine);
    for item in ctx.txn.scan(ctx.engine.data, range, Direction::Forward)? {
        if rows % 1024 == 1023 {
            super::query::interrupted(engine, &interrupts)?;
        }
        let (_, bytes) = item?;
        let row = decode_row(table, &bytes)?;
        rows += 1;
        for (n, v) in nulls.iter_mut().zip(&row) {
            *n += usize::from(v.is_null());
        }
        // Algorithm R: row number `rows` replaces a random slot with probability k/rows.
        let slot = if sample.len() < SAMPLE_ROWS {
            Some(sample.len())
        } else {
            let j = (rng.next() % rows as u64) as usize;
            (j < SAMPLE_ROWS).then_some(j)
        };
        let Some(slot) = slot else { continue };
        let keys = row
            .iter()
            .map(|v| {
                (!v.is_null()).then(|| {
                    let mut k = Vec::new();
                    append_key(&mut k, &[v]);
                    k
                })
            })
            .collect();
        match sample.get_mut(slot) {
            Some(s) => *s = keys,
            None => sample.push(keys),
        }
    }
    let columns = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let keys = sample.iter().filter_map(|r| r.get(i).cloned().flatten());
            column_stats(
                c.id,
                rows,
                nulls.get(i).copied().unwrap_or(0),
                sample.len(),
                keys,
            )
        })
        .collect();
    Ok(TableStats {
        rows: rows as f64,
        columns,
    })
}

/// A column's statistics from its exact `rows` / `nulls` counts and the non-null `keys` of a
/// sample of `sampled` rows.
fn column_stats(
    id: u32,
    rows: usize,
    nulls: usize,
    sampled: usize,
    keys: impl Iterator<Item = Vec<u8>>,
) -> ColumnStats {
    let null_frac = if rows == 0 {
        0.0
    } else {
        nulls as f64 / rows as f64
    };
    let mut wide = 0usize;
    let mut keys: Vec<Vec<u8>> = keys
        .filter(|k| {
            let keep = k.len() <= WIDE;
            wide += usize::from(!keep);
            keep
        })
        .collect();
    keys.sort_unstable();
    // (key, count) per distinct value, in key order.
    let mut groups: Vec<(Vec<u8>, usize)> = Vec::new();
    for k in keys {
        match groups.last_mut() {
            Some((last, n)) if *last == k => *n += 1,
            _ => groups.push((k, 1)),
        }
    }
    let nonnull_sampled = groups.iter().map(|(_, n)| n).sum::<usize>() + wide;
    let d = (groups.len() + wide) as f64;
    let f1 = (groups.iter().filter(|(_, n)| *n == 1).count() + wide) as f64;
    let nonnull_rows = (rows - nulls.min(rows)) as f64;
    let distinct = if sampled >= rows || nonnull_sampled == 0 {
        d
    } else if f1 >= d {
        // Every sampled value was unique: assume the column is.
        nonnull_rows
    } else {
        // Haas and Stokes (1998), Duj1, as PostgreSQL's analyze.c.
        let n = nonnull_sampled as f64;
        (n * d / (n - f1 + f1 * n / nonnull_rows)).clamp(d, nonnull_rows.max(d))
    };
    let per_row = |count: usize| {
        if sampled == 0 {
            0.0
        } else {
            count as f64 / sampled as f64
        }
    };
    // Common values: everything when the sample saw every value, else values clearly more
    // frequent than average (PostgreSQL's 1.25x rule) seen more than once.
    let complete = sampled >= rows && groups.len() <= MCV_MAX;
    let average = nonnull_sampled as f64 / d.max(1.0);
    let mut common: Vec<usize> = (0..groups.len())
        .filter(|&g| {
            let n = groups[g].1;
            complete || (n > 1 && n as f64 >= 1.25 * average)
        })
        .collect();
    common.sort_by(|&a, &b| groups[b].1.cmp(&groups[a].1).then(a.cmp(&b)));
    common.truncate(MCV_MAX);
    let mut in_mcv = vec![false; groups.len()];
    let mcv = common
        .iter()
        .map(|&g| {
            in_mcv[g] = true;
            (Key(groups[g].0.clone()), per_row(groups[g].1))
        })
        .collect();
    // The histogram: equal-population bounds over the values left.
    let rest: Vec<(&Vec<u8>, usize)> = groups
        .iter()
        .zip(&in_mcv)
        .filter(|(_, m)| !**m)
        .map(|((k, n), _)| (k, *n))
        .collect();
    let mut histogram = Vec::new();
    if rest.len() >= 2 {
        let total: usize = rest.iter().map(|(_, n)| n).sum();
        let bounds = BUCKETS.min(rest.len() - 1);
        let mut seen = 0usize;
        let mut next = 0usize;
        for (k, n) in &rest {
            // Bound b sits at population position b * (total - 1) / bounds.
            while next <= bounds && next * (total - 1) / bounds < seen + n {
                if histogram.last().is_none_or(|l: &Key| l.0 != **k) {
                    histogram.push(Key((*k).clone()));
                }
                next += 1;
            }
            seen += n;
        }
    }
    ColumnStats {
        id,
        null_frac,
        distinct,
        mcv,
        histogram,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        values.iter().map(|v| vec![*v])
    }

    #[test]
    fn a_complete_sample_counts_exactly() {
        let values: Vec<u8> = (0..50).map(|i| i % 5).collect();
        let s = column_stats(1, 60, 10, 60, keys(&values));
        assert_eq!(s.distinct, 5.0);
        assert!((s.null_frac - 10.0 / 60.0).abs() < 1e-9);
        // Five values, all common, each a sixth of the rows.
        assert_eq!(s.mcv.len(), 5);
        assert!(s.mcv.iter().all(|(_, f)| (f - 10.0 / 60.0).abs() < 1e-9));
        assert!(s.histogram.is_empty());
    }

    #[test]
    fn unique_sample_means_a_unique_column() {
        let values: Vec<u8> = (0..=255).collect();
        let s = column_stats(1, 1_000_000, 0, 256, keys(&values));
        assert_eq!(s.distinct, 1_000_000.0);
        assert!(s.mcv.is_empty());
        assert_eq!(s.histogram.len(), BUCKETS + 1);
        assert_eq!(s.histogram.first(), Some(&Key(vec![0])));
        assert_eq!(s.histogram.last(), Some(&Key(vec![255])));
    }

    #[test]
    fn skew_gives_common_values_and_a_histogram_of_the_rest() {
        let mut values = vec![7u8; 500];
        values.extend((0..=255u8).filter(|v| *v != 7));
        let s = column_stats(1, 100_000, 0, values.len(), keys(&values));
        assert_eq!(s.mcv.first().map(|(k, _)| k.clone()), Some(Key(vec![7])));
        assert_eq!(s.mcv.len(), 1);
        assert!(s.histogram.windows(2).all(|w| w[0] < w[1]));
        // Duplicates in the sample pull the estimate below "unique".
        assert!(
            s.distinct < 100_000.0 && s.distinct >= 256.0,
            "{}",
            s.distinct
        );
    }

    #[test]
    fn checkpoint_moves_the_writes_to_tables_and_keeps_them() {
        let engine = crate::test_support::engine();
        let mut s = engine.session("postgres", "postgres");
        let run = crate::test_support::last_rows;
        run(
            &mut s,
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT x, 'v' || x FROM generate_series(1, 500) x",
        );
        let db = engine.txn_db().db();
        let tables = db.stats().tables;
        let stmt = crate::parse("CHECKPOINT").unwrap().remove(0);
        let done = s.execute(&stmt, &[]).unwrap();
        assert!(matches!(done.outcome, Outcome::Command(ref tag) if tag == "CHECKPOINT"));
        // The flush and the settling are a wait handed to the caller.
        assert_eq!(done.waits.len(), 1);
        for w in done.waits {
            w.wait().unwrap();
        }
        assert!(db.stats().tables > tables, "the memtable was flushed");
        // In a transaction block too, as in PostgreSQL; the block's writes stay its own.
        run(
            &mut s,
            "BEGIN; INSERT INTO t VALUES (501, 'x'); CHECKPOINT; COMMIT",
        );
        assert_eq!(run(&mut s, "SELECT count(*), max(v) FROM t"), ["501,x"]);
    }
}
