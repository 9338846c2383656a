//! End-to-end test with PostgreSQL's JDBC driver: `tests/fixtures/jdbc/JdbcCheck.java`, run
//! against the real `orbit` binary, must print what it prints against PostgreSQL 15
//! (`tests/fixtures/jdbc/expected.txt`): prepared statements, batches and update counts,
//! every common type, arrays, transactions and savepoints, SQLSTATEs, and DatabaseMetaData's
//! getTables / getColumns.
//!
//! Needs `javac`, `java` and the driver jar (Debian's `libpostgresql-jdbc-java`, or
//! `ORBIT_JDBC_JAR`); `.ci/run` installs the jar. Skipped, with a message, where they are
//! missing.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn jdbc_jar() -> Option<PathBuf> {
    let jar = std::env::var_os("ORBIT_JDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    let java = ["javac", "java"]
        .iter()
        .all(|tool| common::program_runs(tool, &["-version"]));
    match (java, jar.exists()) {
        (true, true) => Some(jar),
        _ => {
            eprintln!(
                "javac/java or the JDBC driver ({}) is missing: skipping the JDBC test",
                jar.display()
            );
            None
        }
    }
}

#[test]
fn a_jdbc_application_sees_what_postgresql_gives_it() {
    let Some(jar) = jdbc_jar() else {
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jdbc");
    let classes = tempfile::tempdir().unwrap();
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .arg("-cp")
        .arg(&jar)
        .arg(fixtures.join("JdbcCheck.java"))
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let (_tmp, server) = common::start();
    let classpath = format!("{}:{}", classes.path().display(), jar.display());
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/postgres?user=postgres&prepareThreshold=1",
        server.pg_port
    );
    let out = Command::new("java")
        .args(["-cp", &classpath, "JdbcCheck", &url])
        .output()
        .unwrap();
    common::assert_driver_output("JDBC", &out, &fixtures.join("expected.txt"));
}
