//! The settings that govern parallel query, under PostgreSQL's names and with its defaults:
//! `max_parallel_workers_per_gather` (2; 0 turns parallel query off) and
//! `min_parallel_table_scan_size` (8MB: smaller tables are scanned by the statement's thread
//! alone). A table scan then uses at most `max_parallel_workers_per_gather + 1` threads, as
//! PostgreSQL's leader joins its workers, and no more than the server's cores.
//!
//! Invariant: the settings map holds these values as SHOW reports them (checked and
//! normalized by [`check`]); the readers fall back to the defaults on anything else.

use std::collections::BTreeMap;

use crate::error::{code, Error, Result};

pub(crate) const WORKERS: &str = "max_parallel_workers_per_gather";
pub(crate) const MIN_SCAN: &str = "min_parallel_table_scan_size";
const DEFAULT_WORKERS: usize = 2;
const DEFAULT_MIN_SCAN: u64 = 8 << 20;
/// PostgreSQL's limits: 1024 workers; 715827882 blocks of 8 kB.
const MAX_WORKERS: i64 = 1024;
const MAX_MIN_SCAN_BLOCKS: u64 = 715_827_882;

/// The value to store for SET `name` = `value`, checked as PostgreSQL checks it; None when
/// `name` is not one of these settings.
pub(crate) fn check(name: &str, value: &str) -> Option<Result<String>> {
    let invalid = || {
        Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{name}\": \"{value}\""),
        )
    };
    match name {
        WORKERS => Some(match value.trim().parse::<i64>() {
            Ok(n) if (0..=MAX_WORKERS).contains(&n) => Ok(n.to_string()),
            Ok(n) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("{n} is outside the valid range for parameter \"{name}\" (0 .. {MAX_WORKERS})"),
            )),
            Err(_) => Err(invalid()),
        }),
        MIN_SCAN => Some(match size_bytes(value) {
            Some(b) if b / 8192 <= MAX_MIN_SCAN_BLOCKS => Ok(show_size(b)),
            Some(_) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!(
                    "{} 8kB is outside the valid range for parameter \"{name}\" (0 .. {MAX_MIN_SCAN_BLOCKS})",
                    value.trim()
                ),
            )),
            None => Err(invalid().with_detail("Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".")),
        }),
        _ => None,
    }
}

/// A size as PostgreSQL reads a block-sized setting: a bare number counts 8 kB blocks, or a
/// number with B, kB, MB, GB or TB.
fn size_bytes(value: &str) -> Option<u64> {
    let v = value.trim().trim_matches('\'').trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" => 8192,
        "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A size in the largest unit that shows it exactly, as SHOW does.
fn show_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    [
        (1u64 << 40, "TB"),
        (1 << 30, "GB"),
        (1 << 20, "MB"),
        (1 << 10, "kB"),
    ]
    .iter()
    .find(|(unit, _)| bytes % unit == 0)
    .map_or_else(
        || format!("{bytes}B"),
        |(unit, name)| format!("{}{name}", bytes / unit),
    )
}

/// How many threads a parallel scan may use: 1 means none besides the statement's.
pub(crate) fn degree(settings: &BTreeMap<String, String>, cores: usize) -> usize {
    let workers = settings
        .get(WORKERS)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_WORKERS);
    if workers == 0 {
        return 1;
    }
    (workers + 1).min(cores)
}

/// The stored size below which a table is scanned by the statement's thread alone.
pub(crate) fn min_scan_bytes(settings: &BTreeMap<String, String>) -> u64 {
    settings
        .get(MIN_SCAN)
        .and_then(|v| size_bytes(v))
        .unwrap_or(DEFAULT_MIN_SCAN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn settings_are_checked_and_shown_as_postgres_does() {
        assert_eq!(check(WORKERS, " 4 ").unwrap().unwrap(), "4");
        let e = check(WORKERS, "-1").unwrap().unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.to_string().contains("outside the valid range"), "{e}");
        assert_eq!(
            check(WORKERS, "two").unwrap().unwrap_err().sqlstate(),
            "22023"
        );
        for (input, shown) in [
            ("0", "0"),
            ("1024", "8MB"),
            ("8MB", "8MB"),
            ("'64kB'", "64kB"),
            ("1GB", "1GB"),
            ("1000B", "1000B"),
        ] {
            assert_eq!(check(MIN_SCAN, input).unwrap().unwrap(), shown, "{input}");
        }
        assert_eq!(
            check(MIN_SCAN, "8mb").unwrap().unwrap_err().sqlstate(),
            "22023"
        );
        assert_eq!(
            check(MIN_SCAN, "99TB").unwrap().unwrap_err().sqlstate(),
            "22023"
        );
        assert!(check("work_mem", "4MB").is_none());
    }

    #[test]
    fn the_degree_and_threshold_follow_the_settings() {
        let mut s = BTreeMap::new();
        assert_eq!(degree(&s, 8), 3);
        assert_eq!(degree(&s, 2), 2);
        assert_eq!(min_scan_bytes(&s), 8 << 20);
        s.insert(WORKERS.to_string(), "0".to_string());
        s.insert(MIN_SCAN.to_string(), "64kB".to_string());
        assert_eq!(degree(&s, 8), 1);
        assert_eq!(min_scan_bytes(&s), 64 << 10);
        s.insert(WORKERS.to_string(), "7".to_string());
        assert_eq!(degree(&s, 16), 8);
    }
}
