//! End-to-end tests of PostgreSQL authentication and TLS on the real `orbit` binary: trust by
//! default; SCRAM-SHA-256 with `--pg-password` and users from the config file (a password, or
//! a PostgreSQL verifier); wrong passwords and unknown users refused alike with 28P01; TLS
//! with a self-signed certificate made here (SSLRequest answered `S`, `sslmode=require`,
//! SCRAM-SHA-256-PLUS channel binding, plaintext still served), `N` without TLS; startup
//! refusals naming the bad setting. Clients: tokio-postgres, and psql where it is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{free_port, free_ports, Server, ORBIT};
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(port: u16, user: &str, password: Option<&str>) -> Config {
    let mut c = Config::new();
    c.host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(30));
    if let Some(p) = password {
        c.password(p);
    }
    c
}

/// Connects in plaintext; the connection task runs on the current runtime.
async fn plain(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A TLS client configuration trusting only `ca` (a PEM certificate).
fn client_config(ca: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(ca.as_bytes());
    for cert in certs {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Connects over TLS, trusting only `ca`.
async fn tls(config: &Config, ca: &str) -> Result<Client, tokio_postgres::Error> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(ca));
    let (client, conn) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn current_user(c: &Client) -> String {
    let rows = c.simple_query("SELECT current_user").await.unwrap();
    rows.into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap()
}

/// SQLSTATE, severity and message of a server's refusal.
fn refusal(r: Result<Client, tokio_postgres::Error>) -> (String, String, String) {
    let e = match r {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e,
    };
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e}"));
    (
        db.code().code().to_string(),
        db.severity().to_string(),
        db.message().to_string(),
    )
}

fn failed_for(user: &str) -> (String, String, String) {
    (
        "28P01".to_string(),
        "FATAL".to_string(),
        format!("password authentication failed for user \"{user}\""),
    )
}

/// What the server answers an SSLRequest with: `S` (TLS) or `N`.
fn ssl_response(port: u16) -> u8 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).unwrap();
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer).unwrap();
    answer[0]
}

/// One backend message: its type byte and body.
fn read_message(s: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).unwrap();
    (head[0], body)
}

/// The first SCRAM round by hand, as `user`: the mechanisms the server offers and its
/// server-first message (`r=<nonce>,s=<salt>,i=<iterations>`).
fn scram_first_round(port: u16, user: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mechanisms = start_sasl(&mut s, user);
    let first = b"n,,n=,r=0123456789abcdefghijklmn";
    let mut msg = b"SCRAM-SHA-256\0".to_vec();
    msg.extend_from_slice(&(first.len() as u32).to_be_bytes());
    msg.extend_from_slice(first);
    let mut out = vec![b'p'];
    out.extend_from_slice(&((4 + msg.len()) as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    s.write_all(&out).unwrap();
    let (kind, body) = read_message(&mut s);
    assert_eq!(kind, b'R', "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        &body[..4],
        &11u32.to_be_bytes(),
        "AuthenticationSASLContinue"
    );
    (mechanisms, String::from_utf8(body[4..].to_vec()).unwrap())
}

/// Sends the startup message for `user` and reads AuthenticationSASL: the mechanisms offered,
/// each ended by a NUL, then a NUL.
fn start_sasl(s: &mut (impl Read + Write), user: &str) -> String {
    let params = format!("user\0{user}\0database\0postgres\0\0");
    let mut startup = ((8 + params.len()) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(&196608u32.to_be_bytes());
    startup.extend_from_slice(params.as_bytes());
    s.write_all(&startup).unwrap();
    s.flush().unwrap();
    let (kind, body) = read_message(s);
    assert_eq!(
        (kind, &body[..4]),
        (b'R', &10u32.to_be_bytes()[..]),
        "AuthenticationSASL"
    );
    String::from_utf8(body[4..].to_vec()).unwrap()
}

/// PostgreSQL 17's direct TLS (no SSLRequest; ALPN `alpn`, which must be `postgresql`): the
/// mechanisms the server offers inside it.
fn direct_tls_mechanisms(port: u16, ca: &str, alpn: &[u8]) -> Result<String, std::io::Error> {
    let mut config = client_config(ca);
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // The handshake first, so that its failure is an error rather than a panic below.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(start_sasl(&mut tls, "postgres"))
}

/// The salt of a server-first message.
fn salt(server_first: &str) -> &str {
    server_first
        .split(',')
        .find_map(|p| p.strip_prefix("s="))
        .unwrap()
}

/// A self-signed certificate for localhost and 127.0.0.1 in `dir`: (cert PEM, its path, the
/// key's path).
fn certificate(dir: &Path) -> (String, String, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    (c.cert.pem(), path(&cert), path(&key))
}

/// `psql` with `conninfo` running `select 1` and `PGPASSWORD=password`: whether it printed
/// the row, and its stderr. None when psql is not installed.
fn psql(conninfo: &str, password: &str) -> Option<(bool, String)> {
    if !Path::new("/usr/bin/psql").exists() {
        eprintln!("psql is not installed: its checks are skipped");
        return None;
    }
    let out = Command::new("/usr/bin/psql")
        .args([conninfo, "-X", "-A", "-t", "-c", "select 1"])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "30")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    Some((out.status.success() && stdout.trim() == "1", stderr))
}

#[test]
fn trust_is_the_default_and_ssl_is_refused_without_a_certificate() {
    let (_tmp, server) = common::start();
    assert!(server.log().contains("PostgreSQL authentication: trust"));
    assert_eq!(ssl_response(server.pg_port), b'N');
    rt().block_on(async {
        // Any user, no password: the session is that user's.
        for user in ["postgres", "alice"] {
            let c = plain(&config(server.pg_port, user, None)).await.unwrap();
            assert_eq!(current_user(&c).await, user);
        }
        // A client that asks for TLS is told no, and one that insists fails.
        let mut c = config(server.pg_port, "postgres", None);
        c.ssl_mode(SslMode::Require);
        let Err(e) = tls(&c, "").await else {
            panic!("TLS without a certificate")
        };
        assert!(e.as_db_error().is_none(), "{e}");
    });
    if let Some((ok, err)) = psql(
        &format!(
            "host=127.0.0.1 port={} user=postgres sslmode=prefer",
            server.pg_port
        ),
        "",
    ) {
        assert!(
            ok,
            "psql with trust (sslmode=prefer falls back to plaintext): {err}"
        );
    }
}

/// `carol-pw` as a PostgreSQL verifier (salt `orbit-test-salt!`, 4096 iterations; computed
/// with Python's hashlib and hmac).
const CAROL: &str = "SCRAM-SHA-256$4096:b3JiaXQtdGVzdC1zYWx0IQ==$KY8SHsnBSCPWgmBtTJ7KEh8huqRmQCM8CS0yXKQFuBg=:4Jyj1Ybo/AE3T7MHB9CFY1CCFxMN7r9poj1fv+i8DAE=";

#[test]
fn scram_lets_in_configured_users_with_their_passwords_only() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("orbit.toml");
    std::fs::write(
        &file,
        format!("pg-users = [\"alice:wonder:land\", \"carol:{CAROL}\"]\n"),
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--pg-password",
            "secret",
            "--config",
            file.to_str().unwrap(),
        ],
    );
    let port = server.pg_port;
    let log = server.log();
    assert!(
        log.contains("PostgreSQL authentication: scram-sha-256")
            && log.contains(r#"users=["alice", "carol", "postgres"]"#),
        "{log}"
    );
    assert_eq!(ssl_response(port), b'N');
    rt().block_on(async {
        let c = plain(&config(port, "postgres", Some("secret")))
            .await
            .unwrap();
        assert_eq!(current_user(&c).await, "postgres");
        c.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let c = plain(&config(port, "alice", Some("wonder:land")))
            .await
            .unwrap();
        assert_eq!(current_user(&c).await, "alice");
        let n: i64 = c
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        let c = plain(&config(port, "carol", Some("carol-pw")))
            .await
            .unwrap();
        assert_eq!(current_user(&c).await, "carol");

        // Wrong passwords, another user's password, unknown users: one answer for all.
        for (user, password) in [
            ("postgres", "Secret"),
            ("postgres", "wonder:land"),
            ("alice", "secret"),
            ("alice", "wonder"),
            ("carol", CAROL),
            ("ghost", "secret"),
            ("ghost", "x"),
        ] {
            let r = plain(&config(port, user, Some(password))).await;
            assert_eq!(refusal(r), failed_for(user), "{user}/{password}");
        }
        // Without a password the client cannot even answer the SASL challenge.
        assert!(plain(&config(port, "postgres", None)).await.is_err());
    });
    // An unknown user gets a challenge like a known one: a salt that stays the same from one
    // attempt to the next, 4096 iterations. SCRAM-SHA-256-PLUS needs TLS.
    let (mechanisms, known) = scram_first_round(port, "postgres");
    assert_eq!(mechanisms, "SCRAM-SHA-256\0\0");
    let (_, ghost) = scram_first_round(port, "ghost");
    for first in [&known, &ghost] {
        assert!(first.starts_with("r=0123456789abcdefghijklmn"), "{first}");
        assert!(first.ends_with(",i=4096"), "{first}");
    }
    assert_eq!(salt(&known), salt(&scram_first_round(port, "postgres").1));
    assert_eq!(salt(&ghost), salt(&scram_first_round(port, "ghost").1));
    assert_ne!(salt(&ghost), salt(&known));
    assert_ne!(salt(&ghost), salt(&scram_first_round(port, "ghost2").1));
    let log = server.log_with("password authentication failed user=ghost");
    assert!(
        log.contains("password authentication failed user=ghost"),
        "failed logins are logged:\n{log}"
    );
    assert!(
        !log.contains("wonder:land") && !log.contains("Secret"),
        "{log}"
    );
    let conninfo = |user: &str| {
        format!("host=127.0.0.1 port={port} user={user} dbname=postgres sslmode=prefer")
    };
    if let Some((ok, err)) = psql(&conninfo("alice"), "wonder:land") {
        assert!(ok, "psql as alice: {err}");
        let (ok, err) = psql(&conninfo("alice"), "nope").unwrap();
        assert!(!ok);
        assert!(
            err.contains("password authentication failed for user \"alice\""),
            "{err}"
        );
    }
}

#[test]
fn tls_with_scram_channel_binding_and_plaintext_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--pg-password",
            "secret",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    );
    let port = server.pg_port;
    assert_eq!(ssl_response(port), b'S');
    assert!(server.log().contains("tls=true"), "{}", server.log());
    // Channel binding is offered inside TLS only.
    let plus = "SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0";
    assert_eq!(
        direct_tls_mechanisms(port, &ca, b"postgresql").unwrap(),
        plus
    );
    assert!(direct_tls_mechanisms(port, &ca, b"http/1.1").is_err());
    assert_eq!(scram_first_round(port, "postgres").0, "SCRAM-SHA-256\0\0");
    rt().block_on(async {
        let mut c = config(port, "postgres", Some("secret"));
        c.ssl_mode(SslMode::Require);
        let client = tls(&c, &ca).await.unwrap();
        assert_eq!(current_user(&client).await, "postgres");
        // SCRAM-SHA-256-PLUS: the client proves it sees the server's certificate.
        c.channel_binding(ChannelBinding::Require);
        let client = tls(&c, &ca).await.unwrap();
        assert_eq!(current_user(&client).await, "postgres");
        c.password("wrong");
        assert_eq!(refusal(tls(&c, &ca).await), failed_for("postgres"));
        let mut ghost = config(port, "ghost", Some("secret"));
        ghost.ssl_mode(SslMode::Require);
        assert_eq!(refusal(tls(&ghost, &ca).await), failed_for("ghost"));
        // Plaintext is still served (sslmode=disable), with SCRAM without channel binding.
        let client = plain(&config(port, "postgres", Some("secret")))
            .await
            .unwrap();
        assert_eq!(current_user(&client).await, "postgres");
        assert_eq!(
            refusal(plain(&config(port, "postgres", Some("wrong"))).await),
            failed_for("postgres")
        );
        // A client that does not trust the certificate refuses the server.
        let mut c = config(port, "postgres", Some("secret"));
        c.ssl_mode(SslMode::Require);
        let (other, _, _) = certificate(&tmp.path().join("data"));
        let Err(e) = tls(&c, &other).await else {
            panic!("an unknown certificate was trusted")
        };
        assert!(e.as_db_error().is_none(), "{e}");
    });
    let conninfo = |extra: &str| format!("host=127.0.0.1 port={port} user=postgres {extra}");
    if let Some((ok, err)) = psql(&conninfo("sslmode=require"), "secret") {
        assert!(ok, "psql sslmode=require: {err}");
        let verify = format!("sslmode=verify-full sslrootcert={cert} channel_binding=require");
        let (ok, err) = psql(&conninfo(&verify), "secret").unwrap();
        assert!(ok, "psql {verify}: {err}");
        let (ok, err) = psql(&conninfo("sslmode=disable"), "secret").unwrap();
        assert!(ok, "psql sslmode=disable: {err}");
        let (ok, err) = psql(&conninfo("sslmode=require"), "wrong").unwrap();
        assert!(!ok);
        assert!(
            err.contains("password authentication failed for user \"postgres\""),
            "{err}"
        );
    }
}

/// Runs `orbit serve` with `args` and kills it at the first line that `done` accepts (or when
/// it exits): whether it exited by itself, and its log.
fn run_until(args: &[&str], done: impl Fn(&str) -> bool) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    // Taken together (one by one, a released port can come back at once); the PostgreSQL
    // one unless `args` name their own.
    let [resp, http, pg] = free_ports::<3>();
    let pg = format!("127.0.0.1:{pg}");
    let own_pg = if args.contains(&"--pg-addr") {
        vec![]
    } else {
        vec!["--pg-addr", pg.as_str()]
    };
    let mut child: Child = Command::new(ORBIT)
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["--threads", "1", "--resp-addr"])
        .arg(format!("127.0.0.1:{resp}"))
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http}"))
        .args(own_pg)
        .args(args)
        .env("ORBIT_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    let mut exited = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if done(&line) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                exited = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no answer from orbit serve:\n{log}"),
        }
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    (exited && !status.success(), log)
}

/// The error `orbit serve` with `args` stops with.
fn refused(args: &[&str]) -> String {
    let (failed, log) = run_until(args, |l| l.contains("ready to accept connections"));
    assert!(failed, "orbit serve {args:?} started:\n{log}");
    log
}

#[test]
fn bad_security_settings_stop_the_start_with_a_clear_message() {
    let e = refused(&["--pg-auth", "scram-sha-256"]);
    assert!(
        e.contains("--pg-auth scram-sha-256 needs at least one user with a password"),
        "{e}"
    );
    let e = refused(&["--pg-auth", "md5"]);
    assert!(e.contains("expected trust or scram-sha-256"), "{e}");
    let e = refused(&["--pg-user", "alice"]);
    assert!(e.contains("--pg-user wants NAME:PASSWORD"), "{e}");
    let e = refused(&["--pg-user", "bob:a", "--pg-user", "bob:b"]);
    assert!(e.contains("\"bob\" is configured more than once"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificate(tmp.path());
    let missing = tmp.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let e = refused(&["--tls-cert", missing, "--tls-key", &key]);
    assert!(
        e.contains(&format!("cannot read the TLS certificate file {missing}")),
        "{e}"
    );
    let e = refused(&["--tls-cert", &cert, "--tls-key", missing]);
    assert!(
        e.contains(&format!("cannot read the TLS key file {missing}")),
        "{e}"
    );
    let e = refused(&["--tls-cert", &key, "--tls-key", &key]);
    assert!(
        e.contains(&format!("TLS certificate file {key}: no certificate")),
        "{e}"
    );
    let e = refused(&["--tls-cert", &cert, "--tls-key", &cert]);
    assert!(
        e.contains(&format!("TLS key file {cert}: no private key")),
        "{e}"
    );
    let e = refused(&["--tls-cert", &cert]);
    assert!(e.contains("--tls-key"), "{e}");
}

#[test]
fn trust_on_a_reachable_address_is_warned_about() {
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");
    let (exited, log) = run_until(&["--pg-addr", &addr], |l| {
        l.contains("ready to accept connections")
    });
    assert!(!exited, "{log}");
    assert!(
        log.contains("WARN")
            && log
                .contains("PostgreSQL authentication is trust on an address other hosts can reach"),
        "{log}"
    );
    // A password quiets it.
    let (exited, log) = run_until(&["--pg-addr", &addr, "--pg-password", "pw"], |l| {
        l.contains("ready to accept connections")
    });
    assert!(!exited, "{log}");
    assert!(!log.contains("other hosts can reach"), "{log}");
    assert!(
        log.contains("PostgreSQL authentication: scram-sha-256"),
        "{log}"
    );
}
