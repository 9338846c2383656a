//! `--config FILE` (or `ORBIT_CONFIG`): settings from a TOML file, one top-level key per flag
//! of `orbit serve` (`data-dir = "/var/lib/orbit"`, `threads = 4`, `requirepass = "..."`), and
//! `pg-users = ["alice:secret", ...]` for the repeatable `--pg-user`.
//!
//! Precedence: command-line flag, then environment variable, then the file, then the default.
//! The file is applied by setting the `ORBIT_*` variable of each key that the environment does
//! not already set, before the command line is parsed (a list as one variable, an item a
//! line); an unknown key, or a value that is not a string, integer or boolean (or, for a list
//! key, an array of strings), is an error naming it.

use std::path::Path;

use anyhow::{bail, Context};

/// The keys a file may set, as flag names.
const KEYS: &[&str] = &[
    "data-dir",
    "resp-addr",
    "pg-addr",
    "pg-password",
    "pg-users",
    "pg-auth",
    "tls-cert",
    "tls-key",
    "http-addr",
    "threads",
    "requirepass",
    "maxclients",
    "timeout",
    "sync",
    "sync-interval-ms",
    "wal-backend",
    "wal-segment-size",
    "wal-archive",
    "archive-timeout",
    "backup-busy-rate",
    "query-memory",
    "cache-size",
    "node-id",
    "raft-addr",
    "peers",
    "join",
    "forward-writes",
    "max-staleness-ms",
    "raft-snapshot-every",
];

/// Keys whose value is an array of strings (a repeatable flag: `pg-users` is `--pg-user`).
const LIST_KEYS: &[&str] = &["pg-users"];

/// The config file named on the command line or in `ORBIT_CONFIG`, if any.
pub fn path_from_args(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.to_string());
        }
    }
    std::env::var("ORBIT_CONFIG").ok()
}

/// Reads the file and exports its settings as `ORBIT_*` variables the environment lacks.
pub fn apply(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    for (key, value) in settings(&text).with_context(|| format!("in {}", path.display()))? {
        let var = format!("ORBIT_{}", key.to_uppercase().replace('-', "_"));
        if std::env::var_os(&var).is_none() {
            std::env::set_var(var, value);
        }
    }
    Ok(())
}

/// The file's settings as (flag name, value) pairs.
fn settings(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let mut out = Vec::new();
    for (key, value) in table {
        let key = key.replace('_', "-");
        if !KEYS.contains(&key.as_str()) {
            bail!("unknown setting \"{key}\" (known: {})", KEYS.join(", "));
        }
        let value = match value {
            toml::Value::Array(items) if LIST_KEYS.contains(&key.as_str()) => list(&key, items)?,
            other if LIST_KEYS.contains(&key.as_str()) => bail!(
                "setting \"{key}\": {} is not an array of strings",
                other.type_str()
            ),
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "setting \"{key}\": {} is not a string, integer or boolean",
                other.type_str()
            ),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// A list setting as its environment variable holds it: one item a line.
fn list(key: &str, items: Vec<toml::Value>) -> anyhow::Result<String> {
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            toml::Value::String(s) if !s.contains(['\n', '\r']) => lines.push(s),
            toml::Value::String(_) => bail!("setting \"{key}\": item {} has a line break", i + 1),
            other => bail!(
                "setting \"{key}\": item {} is {}, not a string",
                i + 1,
                other.type_str()
            ),
        }
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_map_to_flags_and_refuse_unknown_keys() {
        let s =
            settings("data-dir = \"/srv/orbit\"\nthreads = 4\nsync_interval_ms = 500\n").unwrap();
        assert_eq!(
            s,
            vec![
                ("data-dir".to_string(), "/srv/orbit".to_string()),
                ("sync-interval-ms".to_string(), "500".to_string()),
                ("threads".to_string(), "4".to_string()),
            ]
        );
        assert!(settings("colour = \"blue\"")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        assert!(settings("threads = [1]").is_err());
        assert!(settings("pg-users = \"alice:x\"")
            .unwrap_err()
            .to_string()
            .contains("not an array of strings"));
        assert!(settings("= nonsense").is_err());
        assert_eq!(
            settings("pg_users = [\"alice:a:b\", \"bob:pw\"]\npg-password = \"pw\"\n").unwrap(),
            vec![
                ("pg-password".to_string(), "pw".to_string()),
                ("pg-users".to_string(), "alice:a:b\nbob:pw".to_string()),
            ]
        );
        assert_eq!(
            settings("pg-users = []").unwrap(),
            vec![("pg-users".to_string(), String::new())]
        );
        for (bad, why) in [
            ("pg-users = [\"a:x\", 3]", "item 2 is integer, not a string"),
            ("pg-users = [\"a:x\\nb:y\"]", "item 1 has a line break"),
        ] {
            let e = settings(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(
            path_from_args(&[
                "orbit".into(),
                "serve".into(),
                "--config".into(),
                "a.toml".into()
            ]),
            Some("a.toml".into())
        );
    }
}
