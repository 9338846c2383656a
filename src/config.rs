//! `--config FILE` (or `ORBIT_CONFIG`): settings from a TOML file, one top-level key per flag
//! of `orbit serve` (`data-dir = "/var/lib/orbit"`, `threads = 4`, `requirepass = "..."`).
//!
//! Precedence: command-line flag, then environment variable, then the file, then the default.
//! The file is applied by setting the `ORBIT_*` variable of each key that the environment does
//! not already set, before the command line is parsed; an unknown key or a value that is not a
//! string, integer or boolean is an error naming it.

use std::path::Path;

use anyhow::{bail, Context};

/// The keys a file may set, as flag names.
const KEYS: &[&str] = &[
    "data-dir",
    "resp-addr",
    "pg-addr",
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
];

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
        assert!(settings("= nonsense").is_err());
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
