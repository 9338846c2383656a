//! Session settings: the defaults, SET / RESET, startup parameters, and the limits they put
//! on statements (statement_timeout, lock_timeout). Invariant: `settings` holds the value
//! SHOW reports for every parameter a client has set or that has a default.

use sqlparser::ast;

use super::{isolation_name, isolation_of, read_only_of, Session};
use crate::error::{code, Error, Result};
use crate::exec::Outcome;
use orbit_txn::Isolation;

/// Settings every session starts with (what clients read with SHOW and in ParameterStatus).
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("server_version", "16.0"),
    ("server_version_num", "160000"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("timezone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("search_path", "\"$user\", public"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
    ("default_transaction_read_only", "off"),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("application_name", ""),
    ("extra_float_digits", "1"),
    ("max_identifier_length", "63"),
    ("max_index_keys", "32"),
    ("is_superuser", "on"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("bytea_output", "hex"),
    ("synchronous_commit", "on"),
    ("client_min_messages", "notice"),
    ("max_connections", "10000"),
    ("block_size", "8192"),
    // Parallel query (see `session::parallel`).
    ("max_parallel_workers_per_gather", "2"),
    ("min_parallel_table_scan_size", "8MB"),
    // pgvector's parameters (see `vector_setting`).
    ("hnsw.ef_search", "40"),
    ("hnsw.iterative_scan", "off"),
    ("hnsw.max_scan_tuples", "20000"),
    ("hnsw.scan_mem_multiplier", "1"),
    ("ivfflat.probes", "1"),
    ("ivfflat.iterative_scan", "off"),
    ("ivfflat.max_probes", "32768"),
    // Orbit's: where a cluster node's reads come from (see `Session::read_gate`).
    ("orbit.read_from", "leader"),
];

/// A pgvector parameter: its name, an integer's range or an enum's values.
type VectorSetting = (&'static str, Option<(i64, i64)>, &'static [&'static str]);

/// pgvector's parameters, and Orbit's. `hnsw`, `ivfflat` and `orbit` are reserved prefixes,
/// as pgvector marks its own.
const VECTOR_SETTINGS: &[VectorSetting] = &[
    ("hnsw.ef_search", Some((1, 1000)), &[]),
    (
        "hnsw.iterative_scan",
        None,
        &["off", "relaxed_order", "strict_order"],
    ),
    ("hnsw.max_scan_tuples", Some((1, 2_147_483_647)), &[]),
    ("hnsw.scan_mem_multiplier", Some((1, 1000)), &[]),
    ("ivfflat.probes", Some((1, 32768)), &[]),
    ("ivfflat.iterative_scan", None, &["off", "relaxed_order"]),
    ("ivfflat.max_probes", Some((1, 32768)), &[]),
    ("orbit.read_from", None, &["leader", "follower"]),
];

/// Checks a value for one of pgvector's parameters or Orbit's (None: not one of those); gives
/// the value SHOW reports.
fn vector_setting(name: &str, value: &str) -> Option<Result<String>> {
    let prefix = ["hnsw.", "ivfflat.", "orbit."]
        .into_iter()
        .find(|p| name.starts_with(p))?;
    let invalid = || {
        Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{name}\": \"{value}\""),
        )
    };
    let Some((_, range, choices)) = VECTOR_SETTINGS.iter().find(|(n, _, _)| *n == name) else {
        return Some(Err(Error::new(
            code::INVALID_NAME,
            format!("invalid configuration parameter name \"{name}\""),
        )
        .with_detail(format!(
            "\"{}\" is a reserved prefix.",
            prefix.trim_end_matches('.')
        ))));
    };
    Some(match range {
        Some((lo, hi)) => match value.trim().parse::<i64>() {
            Ok(v) if (*lo..=*hi).contains(&v) => Ok(v.to_string()),
            Ok(v) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("{v} is outside the valid range for parameter \"{name}\" ({lo} .. {hi})"),
            )),
            Err(_) => Err(invalid()),
        },
        None => {
            let v = value.trim().to_ascii_lowercase();
            if choices.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(invalid().with_detail(format!("Available values: {}.", choices.join(", "))))
            }
        }
    })
}

/// A duration setting in milliseconds (`5000`, `5s`, `500ms`, `1min`, `2h`, `1d`), as
/// PostgreSQL reads statement_timeout.
pub(crate) fn duration_ms(value: &str) -> Option<u64> {
    let v = value.trim().trim_matches('\'').trim();
    if v == "0" {
        return Some(0);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match unit.trim().to_lowercase().as_str() {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "us" => 0.001,
        _ => return None,
    };
    let ms = n * factor;
    (0.0..2_147_483_648.0)
        .contains(&ms)
        .then(|| ms.round() as u64)
}

/// How PostgreSQL shows a duration setting: in the largest unit that holds it exactly
/// (`500ms`, `5s`, `1min`, `2h`, `1d`; zero is `0`).
fn show_ms(ms: u64) -> String {
    if ms == 0 {
        return "0".into();
    }
    [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
    ]
    .iter()
    .find(|(unit, _)| ms % unit == 0)
    .map_or_else(
        || format!("{ms}ms"),
        |(unit, name)| format!("{}{name}", ms / unit),
    )
}

impl Session {
    /// A setting's current value.
    pub fn setting(&self, name: &str) -> Option<&str> {
        match self.settings.get(name) {
            Some(v) => Some(v.as_str()),
            None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.settings.get(&name.to_lowercase()).map(String::as_str)
            }
            None => None,
        }
    }

    /// Records a startup parameter (client_encoding, application_name, DateStyle, ...).
    pub fn set_startup_parameter(&mut self, name: &str, value: &str) {
        self.settings.insert(name.to_lowercase(), value.to_string());
        self.reset_values
            .insert(name.to_lowercase(), value.to_string());
    }

    /// RESET `name` (every setting when `None`): back to its startup or default value; a
    /// setting with neither is forgotten.
    pub(super) fn reset(&mut self, name: Option<&str>) {
        match name {
            Some(name) => match self.reset_values.get(name) {
                Some(v) => {
                    self.settings.insert(name.to_string(), v.clone());
                }
                None => {
                    self.settings.remove(name);
                }
            },
            None => self.settings = self.reset_values.clone(),
        }
    }

    /// How long a statement may wait for row locks (the smaller of lock_timeout and
    /// statement_timeout that are set).
    pub fn lock_wait_limit(&self) -> Option<std::time::Duration> {
        ["lock_timeout", "statement_timeout"]
            .iter()
            .filter_map(|n| self.settings.get(*n).and_then(|v| duration_ms(v)))
            .filter(|ms| *ms > 0)
            .min()
            .map(std::time::Duration::from_millis)
    }

    /// Ends a statement that waited for a row lock past [`Session::lock_wait_limit`], or was
    /// cancelled while it waited: the error PostgreSQL gives (55P03 for lock_timeout, 57014
    /// for statement_timeout or a CancelRequest), and the block fails as after any error.
    pub fn give_up_lock_wait(&mut self) -> Error {
        self.lock_wait = None;
        if let Some(t) = &self.txn {
            t.stop_waiting();
        }
        if let Some(e) = self.cancel.error() {
            self.fail();
            return e;
        }
        let limit = |n: &str| {
            self.settings
                .get(n)
                .and_then(|v| duration_ms(v))
                .filter(|ms| *ms > 0)
        };
        let lock_first = match (limit("lock_timeout"), limit("statement_timeout")) {
            (Some(l), Some(s)) => l <= s,
            (l, _) => l.is_some(),
        };
        self.fail();
        if lock_first {
            Error::new(
                code::LOCK_NOT_AVAILABLE,
                "canceling statement due to lock timeout",
            )
        } else {
            Error::new(
                code::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            )
        }
    }

    pub(super) fn set(&mut self, set: &ast::Set) -> Result<Outcome> {
        match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string().to_lowercase();
                let value = values
                    .iter()
                    .map(|v| match v {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        ast::Expr::Identifier(id) => id.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let value = if value.eq_ignore_ascii_case("default") {
                    DEFAULT_SETTINGS
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default()
                } else {
                    value
                };
                if let Some(checked) = super::parallel::check(&name, &value) {
                    self.settings.insert(name, checked?);
                    return Ok(Outcome::Command("SET".into()));
                }
                if let Some(checked) = vector_setting(&name, &value) {
                    self.settings.insert(name, checked?);
                    return Ok(Outcome::Command("SET".into()));
                }
                match name.as_str() {
                    "transaction_isolation" | "default_transaction_isolation"
                        if Isolation::from_sql(&value).is_none() =>
                    {
                        return Err(Error::new(
                            code::INVALID_PARAMETER_VALUE,
                            format!("invalid value for parameter \"{name}\": \"{value}\""),
                        ));
                    }
                    "statement_timeout"
                    | "lock_timeout"
                    | "idle_in_transaction_session_timeout" => {
                        let Some(ms) = duration_ms(&value) else {
                            return Err(Error::new(
                                code::INVALID_PARAMETER_VALUE,
                                format!("invalid value for parameter \"{name}\": \"{value}\""),
                            ));
                        };
                        self.settings.insert(name, show_ms(ms));
                        return Ok(Outcome::Command("SET".into()));
                    }
                    "client_encoding" | "names" => {
                        let v = value.to_uppercase().replace('-', "");
                        if v != "UTF8" && v != "UNICODE" {
                            return Err(Error::new(
                                code::FEATURE_NOT_SUPPORTED,
                                format!("conversion between {value} and UTF8 is not supported"),
                            ));
                        }
                    }
                    "timezone" | "time zone" => {
                        let v = value.to_uppercase();
                        if !matches!(
                            v.as_str(),
                            "UTC" | "GMT" | "Z" | "ETC/UTC" | "0" | "+00" | "00:00"
                        ) {
                            return Err(Error::unsupported(format!(
                                "only the UTC time zone is supported, not \"{value}\""
                            )));
                        }
                    }
                    _ => {}
                }
                self.settings.insert(name, value);
                Ok(Outcome::Command("SET".into()))
            }
            ast::Set::SetTimeZone { value, .. } => {
                let v = value.to_string().trim_matches('\'').to_uppercase();
                if !matches!(v.as_str(), "UTC" | "GMT" | "Z" | "LOCAL" | "DEFAULT") {
                    return Err(Error::unsupported(format!(
                        "only the UTC time zone is supported, not {value}"
                    )));
                }
                Ok(Outcome::Command("SET".into()))
            }
            ast::Set::SetNames { charset_name, .. } => {
                let v = charset_name.value.to_uppercase().replace('-', "");
                if v != "UTF8" && v != "UNICODE" {
                    return Err(Error::unsupported(format!(
                        "conversion between {} and UTF8 is not supported",
                        charset_name.value
                    )));
                }
                Ok(Outcome::Command("SET".into()))
            }
            ast::Set::SetTransaction { modes, session, .. } => {
                if let Some(ro) = read_only_of(modes) {
                    if *session {
                        let v = if ro { "on" } else { "off" };
                        self.settings
                            .insert("default_transaction_read_only".into(), v.into());
                    } else if self.txn.is_some() {
                        self.read_only = ro;
                    }
                }
                let Some(iso) = isolation_of(modes) else {
                    return Ok(Outcome::Command("SET".into()));
                };
                if *session {
                    self.settings.insert(
                        "default_transaction_isolation".into(),
                        isolation_name(iso).into(),
                    );
                    return Ok(Outcome::Command("SET".into()));
                }
                match &self.txn {
                    Some(t) if t.isolation() != iso => {
                        // Only before the block's first query may the level change.
                        if self.queried || t.has_writes() {
                            return Err(Error::new(
                                code::ACTIVE_SQL_TRANSACTION,
                                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
                            ));
                        }
                        if let Some(old) = self.txn.take() {
                            old.rollback();
                        }
                        self.block_mark = self.engine.txn_db().read_mark();
                        self.txn = Some(self.engine.txn.begin(iso)?);
                    }
                    Some(_) => {}
                    None => {
                        return Err(Error::new(
                            code::NO_ACTIVE_SQL_TRANSACTION,
                            "SET TRANSACTION can only be used in transaction blocks",
                        ))
                    }
                }
                Ok(Outcome::Command("SET".into()))
            }
            other => Err(Error::unsupported(format!("{other} is not supported"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{duration_ms, show_ms};

    #[test]
    fn durations_show_in_the_largest_exact_unit() {
        for (input, shown) in [
            ("0", "0"),
            ("500", "500ms"),
            ("1500ms", "1500ms"),
            ("5s", "5s"),
            ("60000", "1min"),
            ("90s", "90s"),
            ("2h", "2h"),
            ("1d", "1d"),
            ("1.5min", "90s"),
        ] {
            assert_eq!(show_ms(duration_ms(input).unwrap()), shown, "{input}");
        }
    }
}
