//! The sqllogictest files in `tests/slt/*.slt`, run over the PostgreSQL wire protocol with
//! tokio-postgres against a real `orbit serve` started here, each file in a database of its
//! own (`slt_<file stem>`, made by CREATE DATABASE through the server).
//!
//! The expected results are what PostgreSQL 15 returns, and the same files run against one:
//! `SLT_URL='host=127.0.0.1 port=55433 user=postgres' cargo test --test sqllogic` targets
//! that server instead of starting Orbit (each file's database is dropped and made anew).
//! `SLT_FILES=types,joins` runs only the files with those stems; `known_differences` names
//! `known_differences.slt.txt`, the cases where Orbit still differs from PostgreSQL, which
//! runs only when named. `SLT_OVERRIDE=1` writes the files anew with the results the server
//! returned instead of checking them: for filling in new records from PostgreSQL 15, the diff
//! reviewed before committing.
//!
//! Statements go through the simple query protocol, so values are the text the server sends
//! (what psql prints): NULL is `NULL`, an empty string `(empty)`; the comparison collapses
//! runs of whitespace, as sqllogictest does. A `query` record's type letters are checked
//! against the columns' types, learnt by describing the statement (Parse/Describe) after it
//! ran: `I` int2/int4/int8/oid, `R` float4/float8/numeric, `B` bool, `T` anything else.
//! `statement error <regex>` matches the error as `ERROR: message`, followed by
//! `\nDETAIL: ...` and `\nHINT: ...` when the server sends them; `statement error (23505)`
//! matches the SQLSTATE. `connection <name>` runs the next record in another session.
//!
//! Every record of every file runs, and the test fails at the end listing each failure with
//! its file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sqllogictest::{AsyncDB, ColumnType, DBOutput, Record, Runner};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The type letter of a result column.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Col {
    Integer,
    Real,
    Text,
    Bool,
}

impl ColumnType for Col {
    fn from_char(value: char) -> Option<Self> {
        match value {
            'I' => Some(Col::Integer),
            'R' => Some(Col::Real),
            'T' => Some(Col::Text),
            'B' => Some(Col::Bool),
            _ => None,
        }
    }

    fn to_char(&self) -> char {
        match self {
            Col::Integer => 'I',
            Col::Real => 'R',
            Col::Text => 'T',
            Col::Bool => 'B',
        }
    }
}

fn col_of(ty: &Type) -> Col {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Col::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => Col::Real,
        Type::BOOL => Col::Bool,
        _ => Col::Text,
    }
}

/// An error from the server (or the connection), shown as psql shows it.
#[derive(Debug)]
struct SltError {
    text: String,
    sqlstate: Option<String>,
}

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for SltError {}

impl From<tokio_postgres::Error> for SltError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SltError {
                text: db.to_string(),
                sqlstate: Some(db.code().code().to_string()),
            },
            None => SltError {
                text: e.to_string(),
                sqlstate: None,
            },
        }
    }
}

/// One session: a tokio-postgres client whose connection task runs on the test's runtime.
struct Session {
    client: Client,
}

impl Session {
    async fn connect(conninfo: &str) -> Result<Session, SltError> {
        let (client, conn) = tokio_postgres::connect(conninfo, NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Session { client })
    }
}

#[async_trait::async_trait]
impl AsyncDB for Session {
    type Error = SltError;
    type ColumnType = Col;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Col>, SltError> {
        let mut rows = Vec::new();
        let mut described = false;
        let mut count = 0;
        for message in self.client.simple_query(sql).await? {
            match message {
                SimpleQueryMessage::RowDescription(_) => described = true,
                SimpleQueryMessage::Row(row) => rows.push(
                    (0..row.len())
                        .map(|i| match row.get(i) {
                            None => "NULL".to_string(),
                            Some("") => "(empty)".to_string(),
                            Some(v) => v.to_string(),
                        })
                        .collect(),
                ),
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        if !described {
            return Ok(DBOutput::StatementComplete(count));
        }
        // The simple protocol does not tell the columns' types: describe the statement.
        let statement = self.client.prepare(sql).await.map_err(|e| SltError {
            text: format!("describing the statement for its column types failed: {e:?}"),
            sqlstate: None,
        })?;
        let types = statement
            .columns()
            .iter()
            .map(|c| col_of(c.type_()))
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "postgres"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}

/// The name of a test file without its extension: `types` for `types.slt`, and
/// `known_differences` for `known_differences.slt.txt` (not run unless `SLT_FILES` names it).
fn stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".slt")
        .or_else(|| name.strip_suffix(".slt.txt"))
        .map(str::to_string)
}

/// The `.slt` files to run, sorted, narrowed by `SLT_FILES` when set.
fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let only: Option<Vec<String>> = std::env::var("SLT_FILES")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| match (stem(p), &only) {
            (None, _) => false,
            (Some(stem), Some(only)) => only.contains(&stem),
            (Some(_), None) => p.extension().is_some_and(|x| x == "slt"),
        })
        .collect();
    files.sort();
    files
}

/// Runs every record of `file` in a fresh database, returning each failure's description.
async fn run_file(base: &str, file: &Path) -> Vec<String> {
    let db = format!("slt_{}", stem(file).unwrap());
    let admin = Session::connect(&format!("{base} dbname=postgres"))
        .await
        .expect("connecting to the postgres database");
    admin
        .client
        .simple_query(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    admin
        .client
        .simple_query(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    drop(admin);

    let conninfo = format!("{base} dbname={db}");
    let mut runner = Runner::new(move || {
        let conninfo = conninfo.clone();
        async move { Session::connect(&conninfo).await }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    let records = match sqllogictest::parse_file::<Col>(file) {
        Ok(records) => records,
        Err(e) => return vec![format!("{}: cannot parse: {e}", file.display())],
    };
    if std::env::var_os("SLT_OVERRIDE").is_some() {
        return rewrite_file(&mut runner, file, records).await;
    }
    let mut failures = Vec::new();
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        if let Err(e) = runner.run_async(record).await {
            failures.push(e.display(false).to_string());
        }
    }
    runner.shutdown_async().await;
    failures
}

/// Whether a record expects an error with a given SQLSTATE (`statement error (23505)`).
fn expects_sqlstate(record: &Record<Col>) -> bool {
    use sqllogictest::{ExpectedError, QueryExpect, StatementExpect};
    matches!(
        record,
        Record::Statement {
            expected: StatementExpect::Error(ExpectedError::SqlState(_)),
            ..
        } | Record::Query {
            expected: QueryExpect::Error(ExpectedError::SqlState(_)),
            ..
        }
    )
}

/// `SLT_OVERRIDE`: writes `file` anew with the results the server returned. Unlike the crate's
/// `update_test_file`, a record that expects a SQLSTATE is checked and kept as written (the
/// crate would replace it with the error's message); a mismatch there is returned.
async fn rewrite_file<M>(
    runner: &mut Runner<Session, M>,
    file: &Path,
    records: Vec<Record<Col>>,
) -> Vec<String>
where
    M: sqllogictest::MakeConnection<Conn = Session>,
{
    let mut failures = Vec::new();
    let mut text = String::new();
    for record in records {
        let record = if expects_sqlstate(&record) {
            if let Err(e) = runner.run_async(record.clone()).await {
                failures.push(e.display(false).to_string());
            }
            record
        } else {
            let output = runner.apply_record(record.clone()).await;
            sqllogictest::update_record_with_output(
                &record,
                &output,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::strict_column_validator,
            )
            .unwrap_or(record)
        };
        text.push_str(&record.to_string());
        text.push('\n');
    }
    runner.shutdown_async().await;
    std::fs::write(file, format!("{}\n", text.trim_end())).unwrap();
    failures
}

#[test]
fn sqllogictest_files() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files selected");
    // Against Orbit unless SLT_URL names another server (PostgreSQL, to check the files).
    let (server, base) = match std::env::var("SLT_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let (tmp, server) = common::start();
            let base = format!("host=127.0.0.1 port={} user=postgres", server.pg_port);
            (Some((tmp, server)), base)
        }
    };
    let rt = common::pg::rt();
    let mut failures = Vec::new();
    for file in &files {
        let started = Instant::now();
        let found = rt.block_on(run_file(&base, file));
        eprintln!(
            "{}: {} failure(s) in {:.1} s",
            file.file_name().unwrap().to_string_lossy(),
            found.len(),
            started.elapsed().as_secs_f64()
        );
        failures.extend(found);
    }
    drop(server);
    assert!(
        failures.is_empty(),
        "{} sqllogictest failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
