//! End-to-end test with psycopg 3: `tests/fixtures/psycopg/check.py`, run against the real
//! `orbit` binary, must print what it prints against PostgreSQL 15
//! (`tests/fixtures/psycopg/expected.txt`): parameters, executemany, text and binary results
//! of every common type, COPY in and out, transactions, SQLSTATEs, pipeline mode and TypeInfo,
//! with nothing on stderr.
//!
//! Needs a Python with psycopg (Debian's `python3-psycopg`, which `.ci/run` installs, or one
//! from pip): `python3` is tried, then `/usr/bin/python3`. Skipped, with a message, where
//! neither has it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

fn python_with_psycopg() -> Option<&'static str> {
    let found = ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|py| common::program_runs(py, &["-c", "import psycopg"]));
    if found.is_none() {
        eprintln!("no python3 with psycopg: skipping the psycopg test");
    }
    found
}

#[test]
fn a_psycopg_application_sees_what_postgresql_gives_it() {
    let Some(python) = python_with_psycopg() else {
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/psycopg");
    let (_tmp, server) = common::start();
    let out = Command::new(python)
        .arg(fixtures.join("check.py"))
        .arg(server.pg_port.to_string())
        .output()
        .unwrap();
    common::assert_driver_output("psycopg", &out, &fixtures.join("expected.txt"));
}
