//! How `orbit serve`'s PostgreSQL listener authenticates and encrypts, from the flags:
//! `--pg-password` and `--pg-user NAME:PASSWORD` make the SCRAM-SHA-256 user table,
//! `--pg-auth` picks the method (default: scram-sha-256 when a password is configured, else
//! trust), `--tls-cert`/`--tls-key` load TLS. Refuses contradictions (scram-sha-256 without a
//! password, a user twice, an unreadable certificate) before the database is opened, and
//! warns when a listener others can reach lets everyone in.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use orbit_pg::auth::{Auth, Users};
use orbit_pg::tls::Tls;

use crate::cli::{PgAuthMethod, ServeArgs};

/// The superuser `--pg-password` is the password of.
const SUPERUSER: &str = "postgres";

/// The listener's authentication and TLS.
pub struct PgSecurity {
    pub auth: Auth,
    pub tls: Option<Tls>,
}

/// Builds the authentication and TLS `args` ask for; `addr`: the listener's address, if any.
pub fn from_args(args: &ServeArgs, addr: Option<SocketAddr>) -> anyhow::Result<PgSecurity> {
    let users = users(args.pg_password.as_deref(), &args.pg_users)?;
    let auth = method(args.pg_auth, users)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        (None, None) => None,
        // clap's `requires` refuses one without the other already.
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    if let Some(addr) = addr {
        report(&auth, tls.is_some(), addr);
    }
    Ok(PgSecurity { auth, tls })
}

/// `NAME:PASSWORD` (the password may hold colons). The error never shows the password.
fn parse_user(entry: &str) -> anyhow::Result<(&str, &str)> {
    let Some((name, password)) = entry.split_once(':') else {
        bail!("--pg-user wants NAME:PASSWORD, and an entry has no ':'");
    };
    if name.is_empty() {
        bail!("--pg-user wants NAME:PASSWORD, and an entry has an empty NAME");
    }
    if password.is_empty() {
        bail!("--pg-user {name}: empty password");
    }
    Ok((name, password))
}

/// The configured users: `postgres` with `--pg-password` (an empty one counts as none), then
/// each `--pg-user` (blank entries skipped).
fn users(pg_password: Option<&str>, entries: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut users = Vec::new();
    if let Some(password) = pg_password.filter(|p| !p.is_empty()) {
        users.push((SUPERUSER.to_string(), password.to_string()));
    }
    for entry in entries.iter().filter(|e| !e.trim().is_empty()) {
        let (name, password) = parse_user(entry)?;
        if name == SUPERUSER && pg_password.is_some_and(|p| !p.is_empty()) {
            bail!("user postgres is given both by --pg-password and by --pg-user (or pg-users)");
        }
        users.push((name.to_string(), password.to_string()));
    }
    Ok(users)
}

/// The authentication method: as `--pg-auth` says, else SCRAM when there are users.
fn method(chosen: Option<PgAuthMethod>, users: Vec<(String, String)>) -> anyhow::Result<Auth> {
    match chosen {
        Some(PgAuthMethod::Trust) => {
            if !users.is_empty() {
                tracing::warn!(
                    "--pg-auth trust: the configured PostgreSQL passwords are not checked"
                );
            }
            Ok(Auth::Trust)
        }
        Some(PgAuthMethod::ScramSha256) if users.is_empty() => bail!(
            "--pg-auth scram-sha-256 needs at least one user with a password: set --pg-password \
             (the password of user postgres) or --pg-user NAME:PASSWORD (pg-users in the config \
             file)"
        ),
        None if users.is_empty() => Ok(Auth::Trust),
        Some(PgAuthMethod::ScramSha256) | None => Ok(Auth::ScramSha256(
            Users::new(users).context("PostgreSQL users")?,
        )),
    }
}

/// Logs what the listener will do; a warning when trust meets a non-loopback address.
fn report(auth: &Auth, tls: bool, addr: SocketAddr) {
    match auth {
        Auth::Trust if !addr.ip().is_loopback() => tracing::warn!(
            %addr,
            "PostgreSQL authentication is trust on an address other hosts can reach: anyone \
             who can connect is let in as any user; set --pg-password (or --pg-auth \
             scram-sha-256 with users)"
        ),
        Auth::Trust => tracing::info!(%addr, tls, "PostgreSQL authentication: trust"),
        Auth::ScramSha256(users) => tracing::info!(
            %addr,
            tls,
            users = ?users.names(),
            "PostgreSQL authentication: scram-sha-256"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn users_come_from_the_password_and_name_password_entries() {
        assert_eq!(users(None, &[]).unwrap(), vec![]);
        assert_eq!(users(Some(""), &[]).unwrap(), vec![]);
        assert_eq!(
            users(Some("secret"), &strings(&["alice:a:b:c", "", "bob:x"])).unwrap(),
            vec![
                ("postgres".to_string(), "secret".to_string()),
                ("alice".to_string(), "a:b:c".to_string()),
                ("bob".to_string(), "x".to_string()),
            ]
        );
        // --pg-user may name postgres when --pg-password is not set.
        assert_eq!(
            users(None, &strings(&["postgres:pw"])).unwrap(),
            vec![("postgres".to_string(), "pw".to_string())]
        );
        let err = |pw: Option<&str>, e: &[&str]| users(pw, &strings(e)).unwrap_err().to_string();
        assert!(err(None, &["alice"]).contains("no ':'"));
        assert!(err(None, &[":hunter2"]).contains("empty NAME"));
        assert!(
            !err(None, &[":hunter2"]).contains("hunter2"),
            "never echo a password"
        );
        assert!(err(None, &["alice:"]).contains("alice: empty password"));
        assert!(err(Some("x"), &["postgres:y"]).contains("both by --pg-password and by --pg-user"));
    }

    #[test]
    fn the_method_defaults_from_the_passwords_and_refuses_scram_without_any() {
        let some = || vec![("postgres".to_string(), "pw".to_string())];
        assert!(matches!(method(None, vec![]).unwrap(), Auth::Trust));
        assert!(
            matches!(method(None, some()).unwrap(), Auth::ScramSha256(u) if u.names() == ["postgres"])
        );
        assert!(matches!(
            method(Some(PgAuthMethod::Trust), some()).unwrap(),
            Auth::Trust
        ));
        assert!(matches!(
            method(Some(PgAuthMethod::ScramSha256), some()).unwrap(),
            Auth::ScramSha256(_)
        ));
        let e = method(Some(PgAuthMethod::ScramSha256), vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs at least one user with a password"), "{e}");
        let twice = vec![
            ("bob".to_string(), "a".to_string()),
            ("bob".to_string(), "b".to_string()),
        ];
        let e = format!("{:#}", method(None, twice).unwrap_err());
        assert!(e.contains("\"bob\" is configured more than once"), "{e}");
    }
}
