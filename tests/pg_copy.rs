//! End-to-end tests of COPY FROM STDIN / TO STDOUT on the real `orbit` binary: tokio-postgres's
//! `copy_in` / `copy_out` (extended protocol), a raw simple-protocol client for CopyFail and
//! for statements after COPY in one query string, and `pgbench -i` when it is installed.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::pg::{connect, rt, simple};
use common::Server;
use futures::{pin_mut, SinkExt, StreamExt};
use tokio_postgres::{Client, SimpleQueryMessage};

fn row(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|s| s.map(str::to_string)).collect()
}

async fn count(c: &Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// COPY FROM STDIN of `chunks` (each one CopyData message); the row count, or the error.
async fn copy_in(c: &Client, sql: &str, chunks: &[&[u8]]) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in::<_, std::io::Cursor<Vec<u8>>>(sql).await?;
    pin_mut!(sink);
    for chunk in chunks {
        sink.as_mut()
            .send(std::io::Cursor::new(chunk.to_vec()))
            .await?;
    }
    sink.finish().await
}

/// COPY TO STDOUT: the bytes sent.
async fn copy_out(c: &Client, sql: &str) -> Vec<u8> {
    let stream = c.copy_out(sql).await.unwrap();
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// SQLSTATE, message and CONTEXT of a failed call.
fn db_error<T>(r: Result<T, tokio_postgres::Error>) -> (String, String, String) {
    let Err(e) = r else {
        panic!("expected an error");
    };
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e:?}"));
    (
        db.code().code().to_string(),
        db.message().to_string(),
        db.where_().unwrap_or_default().to_string(),
    )
}

#[test]
fn copy_in_text_and_csv_with_nulls_escapes_quotes_and_defaults() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (id serial PRIMARY KEY, a int, b text, c numeric(6,2) DEFAULT 1.5, \
             d boolean NOT NULL DEFAULT true)",
        )
        .await
        .unwrap();
        // Lines cut anywhere between messages, an escaped newline inside a field, \r\n, a
        // last line with no newline.
        let n = copy_in(
            &c,
            "COPY t (a, b) FROM STDIN",
            &[
                b"1\tplain\n2\ttab\\there\\\\back\\nnl\n3\t\\",
                b"N\n4\t\n5\t\\x41\\101\\q\\\nz\r\n6\t",
                b"last",
            ],
        )
        .await
        .unwrap();
        assert_eq!(n, 6);
        let n = copy_in(
            &c,
            "COPY t (a, b, c, d) FROM STDIN (FORMAT csv, HEADER true)",
            &[b"a,b,c,d\n7,\"quoted, comma\",\"2.5\",t\n8,,3,f\n9,\"\",,true\n10,\"multi\nline \"\"q\"\"\",4,false\n"],
        )
        .await
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            simple(&c, "SELECT id, a, b, c, d FROM t ORDER BY id").await,
            vec![
                row(&[Some("1"), Some("1"), Some("plain"), Some("1.50"), Some("t")]),
                row(&[Some("2"), Some("2"), Some("tab\there\\back\nnl"), Some("1.50"), Some("t")]),
                row(&[Some("3"), Some("3"), None, Some("1.50"), Some("t")]),
                row(&[Some("4"), Some("4"), Some(""), Some("1.50"), Some("t")]),
                row(&[Some("5"), Some("5"), Some("AAq\nz"), Some("1.50"), Some("t")]),
                row(&[Some("6"), Some("6"), Some("last"), Some("1.50"), Some("t")]),
                row(&[Some("7"), Some("7"), Some("quoted, comma"), Some("2.50"), Some("t")]),
                row(&[Some("8"), Some("8"), None, Some("3.00"), Some("f")]),
                row(&[Some("9"), Some("9"), Some(""), None, Some("t")]),
                row(&[Some("10"), Some("10"), Some("multi\nline \"q\""), Some("4.00"), Some("f")]),
            ]
        );
        // The end marker ends the data; what follows it is ignored.
        let n = copy_in(&c, "COPY t (a) FROM STDIN", &[b"11\n\\.\n12\n"]).await.unwrap();
        assert_eq!(n, 1);
        // Legacy option syntax, another delimiter and NULL string.
        let n = copy_in(
            &c,
            "COPY t (a, b) FROM STDIN WITH DELIMITER '|' NULL 'nil'",
            &[b"13|nil\n14|a\\|b\n"],
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            simple(&c, "SELECT b FROM t WHERE a >= 13 ORDER BY a").await,
            vec![row(&[None]), row(&[Some("a|b")])]
        );
        // pgbench's form.
        let n = copy_in(&c, "copy t (a) from stdin with (freeze on)", &[b"15\n"])
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(count(&c, "t").await, 14);
    });
}

#[test]
fn copy_errors_have_postgres_sqlstates_and_keep_the_connection() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (a int PRIMARY KEY, b text NOT NULL, CHECK (a < 1000)); \
             INSERT INTO t VALUES (100, 'existing')",
        )
        .await
        .unwrap();
        let cases: &[(&str, &[u8], &str, &str, &str)] = &[
            (
                "COPY t FROM STDIN",
                b"1\tok\nx2\tbad\n",
                "22P02",
                "invalid input syntax for type integer: \"x2\"",
                "COPY t, line 2, column a: \"x2\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\tok\n2\tok\textra\n",
                "22P04",
                "extra data after last expected column",
                "COPY t, line 2: \"2\tok\textra\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\tok\n2\n",
                "22P04",
                "missing data for column \"b\"",
                "COPY t, line 2: \"2\"",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv)",
                b"1,ok\n2,\"open\n",
                "22P04",
                "unterminated CSV quoted field",
                // PostgreSQL counts the newline inside the quoted field.
                "COPY t, line 3: \"2,\"open\n\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\tok\n100\tdup\n",
                "23505",
                "duplicate key value violates unique constraint \"t_pkey\"",
                "COPY t, line 2: \"100\tdup\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\t\\N\n",
                "23502",
                "null value in column \"b\" of relation \"t\" violates not-null constraint",
                "COPY t, line 1: \"1\t\\N\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\tok\n2000\tbig\n",
                "23514",
                "new row for relation \"t\" violates check constraint \"t_a_check\"",
                "COPY t, line 2: \"2000\tbig\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\tok\n2\ta\\.b\n",
                "22P04",
                "end-of-copy marker corrupt",
                "COPY t, line 2: \"2\ta\\.b\"",
            ),
            (
                "COPY t FROM STDIN",
                b"1\t\xff\n",
                "22021",
                "invalid byte sequence for encoding \"UTF8\": 0xff",
                "COPY t, line 1: \"1\t\u{fffd}\"",
            ),
        ];
        for (sql, data, state, message, context) in cases {
            let (got_state, got_message, got_context) =
                db_error(copy_in(&c, sql, &[data]).await);
            assert_eq!(
                (got_state.as_str(), got_message.as_str(), got_context.as_str()),
                (*state, *message, *context),
                "{sql} {:?}",
                String::from_utf8_lossy(data)
            );
            // All or nothing: the good rows before the bad one are gone too.
            assert_eq!(count(&c, "t").await, 1, "{sql}");
        }
        // Errors before any data is asked for.
        let before: &[(&str, &str)] = &[
            ("COPY nosuch FROM STDIN", "42P01"),
            ("COPY t (a, nope) FROM STDIN", "42703"),
            ("COPY t (a, a) FROM STDIN", "42701"),
            ("COPY t FROM '/etc/passwd'", "0A000"),
            ("COPY t TO '/tmp/out'", "0A000"),
            ("COPY t FROM PROGRAM 'ls'", "0A000"),
            ("COPY t FROM STDIN (FORMAT binary)", "0A000"),
            ("COPY t FROM STDIN BINARY", "0A000"),
            ("COPY t FROM STDIN (FORMAT xml)", "22023"),
            ("COPY t FROM STDIN (DELIMITER 'ab')", "0A000"),
            ("COPY t FROM STDIN (QUOTE '\"')", "0A000"),
            ("COPY t FROM STDIN (HEADER maybe)", "42601"),
            ("COPY t FROM STDIN (bogus)", "42601"),
            ("COPY nosuch TO STDOUT", "42P01"),
        ];
        for (sql, state) in before {
            let (got, message, _) = db_error(c.simple_query(sql).await);
            assert_eq!(got, *state, "{sql}: {message}");
        }
        assert_eq!(
            db_error(c.simple_query("COPY t FROM '/etc/passwd'").await).1,
            "COPY to or from a file is not supported; use COPY FROM STDIN / TO STDOUT (psql's \\copy)"
        );
        // The connection still works, and a good COPY after all that goes in.
        assert_eq!(copy_in(&c, "COPY t FROM STDIN", &[b"1\tfine\n"]).await.unwrap(), 1);
        assert_eq!(count(&c, "t").await, 2);
    });
}

#[test]
fn copy_in_a_transaction_block() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE TABLE t (a int, b text)")
            .await
            .unwrap();
        // Rolled back: nothing stays.
        c.batch_execute("BEGIN").await.unwrap();
        assert_eq!(
            copy_in(&c, "COPY t FROM STDIN", &[b"1\ta\n2\tb\n"])
                .await
                .unwrap(),
            2
        );
        assert_eq!(count(&c, "t").await, 2);
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count(&c, "t").await, 0);
        // A failing COPY fails the block: 25P02 until ROLLBACK.
        c.batch_execute("BEGIN").await.unwrap();
        assert_eq!(
            copy_in(&c, "COPY t FROM STDIN", &[b"1\ta\n"])
                .await
                .unwrap(),
            1
        );
        let (state, _, _) = db_error(copy_in(&c, "COPY t FROM STDIN", &[b"x\ta\n"]).await);
        assert_eq!(state, "22P02");
        let (state, _, _) = db_error(c.simple_query("SELECT 1").await);
        assert_eq!(state, "25P02");
        let (state, _, _) = db_error(copy_in(&c, "COPY t FROM STDIN", &[b"3\tc\n"]).await);
        assert_eq!(state, "25P02");
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count(&c, "t").await, 0);
        // Committed: both COPYs and the INSERT between them.
        c.batch_execute("BEGIN").await.unwrap();
        copy_in(&c, "COPY t FROM STDIN", &[b"1\ta\n"])
            .await
            .unwrap();
        c.batch_execute("INSERT INTO t VALUES (2, 'b')")
            .await
            .unwrap();
        copy_in(&c, "COPY t FROM STDIN (FORMAT csv)", &[b"3,c\n"])
            .await
            .unwrap();
        c.batch_execute("COMMIT").await.unwrap();
        assert_eq!(
            simple(&c, "SELECT a, b FROM t ORDER BY a").await,
            vec![
                row(&[Some("1"), Some("a")]),
                row(&[Some("2"), Some("b")]),
                row(&[Some("3"), Some("c")])
            ]
        );
        // VACUUM cannot run in a block; ANALYZE can; both check the table.
        c.batch_execute("BEGIN").await.unwrap();
        let (state, _, _) = db_error(c.simple_query("VACUUM t").await);
        assert_eq!(state, "25001");
        c.batch_execute("ROLLBACK").await.unwrap();
        c.batch_execute("BEGIN; ANALYZE t; COMMIT").await.unwrap();
        let (state, _, _) = db_error(c.simple_query("VACUUM ANALYZE nosuch").await);
        assert_eq!(state, "42P01");
    });
}

#[test]
fn copy_out_bytes_match_postgres() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, s text, n numeric(6,2), f float8, b bool, \
             ts timestamp, arr text[]); \
             INSERT INTO t VALUES \
               (1, E'a\\tb\\\\c\\nd\\re', 1.5, 0.1, true, '2020-01-02 03:04:05.5', '{a,\"b c\",NULL}'), \
               (2, NULL, NULL, NULL, NULL, NULL, NULL), \
               (3, '', -2, 1e100, false, '1999-12-31 23:59:59', '{}'), \
               (4, 'x,y \"q\" é☃', 0, -0.5, true, NULL, NULL)",
        )
        .await
        .unwrap();
        // What PostgreSQL 15 prints for the same rows.
        assert_eq!(
            String::from_utf8(copy_out(&c, "COPY t TO STDOUT").await).unwrap(),
            "1\ta\\tb\\\\c\\nd\\re\t1.50\t0.1\tt\t2020-01-02 03:04:05.5\t{a,\"b c\",NULL}\n\
             2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n\
             3\t\t-2.00\t1e+100\tf\t1999-12-31 23:59:59\t{}\n\
             4\tx,y \"q\" é☃\t0.00\t-0.5\tt\t\\N\t\\N\n"
        );
        assert_eq!(
            String::from_utf8(copy_out(&c, "COPY t (s, id) TO STDOUT WITH (FORMAT csv, HEADER)").await)
                .unwrap(),
            "s,id\n\"a\tb\\c\nd\re\",1\n,2\n\"\",3\n\"x,y \"\"q\"\" é☃\",4\n"
        );
        assert_eq!(
            copy_out(
                &c,
                "COPY (SELECT id, s FROM t WHERE id > 2 ORDER BY id DESC) TO STDOUT \
                 (DELIMITER '|', NULL 'nil', HEADER)"
            )
            .await,
            b"id|s\n4|x,y \"q\" \xc3\xa9\xe2\x98\x83\n3|\n"
        );
        assert_eq!(
            copy_out(&c, "COPY (SELECT '\\.' AS x) TO STDOUT CSV").await,
            b"\"\\.\"\n"
        );
        // Round trip: out in CSV, into a copy of the table, out again: the same bytes.
        c.batch_execute(
            "CREATE TABLE u (id int PRIMARY KEY, s text, n numeric(6,2), f float8, b bool, \
             ts timestamp, arr text[])",
        )
        .await
        .unwrap();
        for format in ["text", "csv"] {
            c.batch_execute("DELETE FROM u").await.unwrap();
            let out = copy_out(&c, &format!("COPY t TO STDOUT (FORMAT {format})")).await;
            let n = copy_in(&c, &format!("COPY u FROM STDIN (FORMAT {format})"), &[&out])
                .await
                .unwrap();
            assert_eq!(n, 4);
            assert_eq!(
                copy_out(&c, &format!("COPY u TO STDOUT (FORMAT {format})")).await,
                out
            );
        }
    });
}

#[test]
fn copy_of_100000_rows_streams() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE TABLE big (id int, grp int, note text)")
            .await
            .unwrap();
        let mut data = Vec::new();
        for i in 0..100_000 {
            data.extend_from_slice(format!("{i}\t{}\tnote number {i}\n", i % 7).as_bytes());
        }
        // 64 KiB messages, so lines straddle them.
        let chunks: Vec<&[u8]> = data.chunks(65_536).collect();
        assert_eq!(
            copy_in(&c, "COPY big FROM STDIN", &chunks).await.unwrap(),
            100_000
        );
        assert_eq!(count(&c, "big").await, 100_000);
        let row = c
            .query_one("SELECT sum(id), max(note) FROM big WHERE grp = 3", &[])
            .await
            .unwrap();
        let expected: i64 = (0..100_000i64).filter(|i| i % 7 == 3).sum();
        assert_eq!(row.get::<_, i64>(0), expected);
        assert_eq!(row.get::<_, String>(1), "note number 99998");
    });
}

/// A bare simple-protocol client, for what tokio-postgres cannot send (CopyFail with a
/// message, COPY followed by more statements in one query).
struct Raw {
    s: std::net::TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut raw = Raw { s };
        let mut body = 196_608i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0postgres\0database\0postgres\0\0");
        let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        raw.s.write_all(&msg).unwrap();
        raw.until_ready();
        raw
    }

    fn send(&mut self, tag: u8, body: &[u8]) {
        let mut msg = vec![tag];
        msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(body);
        self.s.write_all(&msg).unwrap();
    }

    fn read(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 5];
        self.s.read_exact(&mut head).unwrap();
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0; len - 4];
        self.s.read_exact(&mut body).unwrap();
        (head[0], body)
    }

    /// Messages up to ReadyForQuery, as (tag, text) with errors as "E code message"; and
    /// the ReadyForQuery status.
    fn until_ready(&mut self) -> (Vec<String>, u8) {
        let mut out = Vec::new();
        loop {
            let (tag, body) = self.read();
            match tag {
                b'Z' => return (out, body[0]),
                b'E' => {
                    let fields: Vec<String> = body
                        .split(|&b| b == 0)
                        .filter(|f| !f.is_empty())
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    let get = |k: char| {
                        fields
                            .iter()
                            .find_map(|f| f.strip_prefix(k))
                            .unwrap_or_default()
                            .to_string()
                    };
                    out.push(format!("E {} {}", get('C'), get('M')));
                }
                b'C' => out.push(format!(
                    "C {}",
                    String::from_utf8_lossy(&body).trim_end_matches('\0')
                )),
                b'G' => out.push("G".into()),
                b'D' => out.push("D".into()),
                _ => {}
            }
        }
    }

    fn query(&mut self, sql: &str) {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body);
    }
}

#[test]
fn copy_fail_and_statements_after_copy_in_one_query() {
    let (_tmp, server) = common::start();
    let mut raw = Raw::connect(server.pg_port);
    raw.query("CREATE TABLE t (a int)");
    assert_eq!(raw.until_ready().0, ["C CREATE TABLE"]);
    // CopyFail: 57014 with the client's message; nothing written.
    raw.query("COPY t FROM STDIN");
    assert_eq!(raw.read().0, b'G');
    raw.send(b'd', b"1\n2\n");
    raw.send(b'f', b"client gave up\0");
    assert_eq!(
        raw.until_ready(),
        (
            vec!["E 57014 COPY from stdin failed: client gave up".to_string()],
            b'I'
        )
    );
    // Inside a block, CopyFail fails the block.
    raw.query("BEGIN; COPY t FROM STDIN");
    assert_eq!(raw.read(), (b'C', b"BEGIN\0".to_vec()));
    assert_eq!(raw.read().0, b'G');
    raw.send(b'f', b"no\0");
    assert_eq!(raw.until_ready().1, b'E');
    raw.query("ROLLBACK");
    assert_eq!(raw.until_ready(), (vec!["C ROLLBACK".to_string()], b'I'));
    // Statements after COPY FROM STDIN run once the data is in.
    raw.query("COPY t FROM STDIN; SELECT count(*) FROM t; BEGIN");
    assert_eq!(raw.read().0, b'G');
    raw.send(b'd', b"1\n2\n3");
    raw.send(b'c', b"");
    assert_eq!(
        raw.until_ready(),
        (
            vec![
                "C COPY 3".to_string(),
                "D".into(),
                "C SELECT 1".into(),
                "C BEGIN".into()
            ],
            b'T'
        )
    );
    // A bad row inside a block: error, the block is failed, the rest of the data is ignored.
    raw.query("COPY t FROM STDIN");
    assert_eq!(raw.read().0, b'G');
    raw.send(b'd', b"4\nfive\n");
    raw.send(b'd', b"6\n");
    raw.send(b'c', b"");
    let (msgs, status) = raw.until_ready();
    assert_eq!(
        msgs,
        ["E 22P02 invalid input syntax for type integer: \"five\""]
    );
    assert_eq!(status, b'E');
    raw.query("ROLLBACK; SELECT count(*) FROM t");
    assert_eq!(
        raw.until_ready(),
        (
            vec!["C ROLLBACK".to_string(), "D".into(), "C SELECT 1".into()],
            b'I'
        )
    );
    // COPY TO STDOUT in the simple protocol: one CopyData per row, tagged with the count.
    raw.query("COPY t TO STDOUT; COPY t TO STDOUT (FORMAT csv, HEADER)");
    let mut got = Vec::new();
    loop {
        let (tag, body) = raw.read();
        match tag {
            b'Z' => break,
            b'd' => got.push(String::from_utf8(body).unwrap()),
            b'C' => got.push(String::from_utf8(body).unwrap()),
            _ => {}
        }
    }
    assert_eq!(
        got,
        ["1\n", "2\n", "3\n", "COPY 3\0", "a\n1\n", "2\n", "3\n", "COPY 3\0"]
    );
}

/// `pgbench -i -s 1`: its load is one 12.5 MB transaction, larger than a WAL record (4 MiB), so
/// it is written as several records; it survives kill -9 whole, and the primary keys with it.
#[test]
fn pgbench_initializes_its_tables() {
    let pgbench = std::path::Path::new("/usr/bin/pgbench");
    if !pgbench.exists() {
        println!("skipped: /usr/bin/pgbench is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let out = std::process::Command::new(pgbench)
        .args(["-i", "-s", "1", "-h", "127.0.0.1", "-p"])
        .arg(server.pg_port.to_string())
        .args(["-U", "postgres", "postgres"])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pgbench -i failed:\n{stderr}");
    assert!(stderr.contains("creating primary keys..."), "{stderr}");
    let check = |server: &Server| {
        rt().block_on(async {
            let c = connect(server).await;
            assert_eq!(count(&c, "pgbench_accounts").await, 100_000);
            assert_eq!(count(&c, "pgbench_branches").await, 1);
            assert_eq!(count(&c, "pgbench_tellers").await, 10);
            assert_eq!(count(&c, "pgbench_history").await, 0);
            // The primary keys pgbench added are in force.
            let (state, _, _) = db_error(
                c.simple_query(
                    "INSERT INTO pgbench_accounts (aid, bid, abalance) VALUES (5, 1, 0)",
                )
                .await,
            );
            assert_eq!(state, "23505");
            let row = c
                .query_one(
                    "SELECT bid, abalance, length(filler) FROM pgbench_accounts WHERE aid = 77777",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (1, 0));
        })
    };
    check(&server);
    server.kill9();
    let server = Server::start(&data, &[]);
    check(&server);
}

/// A COPY whose client pauses mid-stream must not hold up other clients: its sequence
/// reservations (a serial column) are writes, and no later write becomes visible before they
/// are published. They used to wait, unawaited, until 256 had piled up or the COPY ended, so
/// another connection's INSERT hung until the paused client went on.
#[test]
fn a_paused_copy_does_not_hold_up_other_clients() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        a.batch_execute("CREATE TABLE s (id serial PRIMARY KEY, v text); CREATE TABLE o (k int)")
            .await
            .unwrap();
        let sink = a
            .copy_in::<_, std::io::Cursor<Vec<u8>>>("COPY s (v) FROM STDIN")
            .await
            .unwrap();
        pin_mut!(sink);
        sink.as_mut()
            .send(std::io::Cursor::new(b"x\ny\n".to_vec()))
            .await
            .unwrap();
        // The COPY is paused here. Without the fix this waits for it forever; the bound is
        // only there to fail instead of hanging.
        let insert = b.batch_execute("INSERT INTO o VALUES (1)");
        tokio::time::timeout(std::time::Duration::from_secs(20), insert)
            .await
            .expect("an INSERT waited for a paused COPY")
            .unwrap();
        assert_eq!(count(&b, "o").await, 1);
        sink.as_mut()
            .send(std::io::Cursor::new(b"z\n".to_vec()))
            .await
            .unwrap();
        assert_eq!(sink.finish().await.unwrap(), 3);
        assert_eq!(
            simple(&a, "SELECT id, v FROM s ORDER BY id").await,
            vec![
                row(&[Some("1"), Some("x")]),
                row(&[Some("2"), Some("y")]),
                row(&[Some("3"), Some("z")])
            ]
        );
    });
}

/// CHECKPOINT after a load, while clients write: the checkpoint's flush waits for their
/// writes to be published, which the tasks of their worker thread do, so the checkpoint must
/// not block its thread (with a writer on the same thread it hung the server). Four writers
/// on the server's two threads: one shares the checkpoint's thread but for 1 run in 16.
#[test]
fn checkpoint_while_other_clients_write() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        a.batch_execute("CREATE TABLE w (id int PRIMARY KEY, v text)")
            .await
            .unwrap();
        let rows: String = (0..20_000).map(|i| format!("{i}\tloaded\n")).collect();
        let copied = copy_in(&a, "COPY w FROM STDIN", &[rows.as_bytes()])
            .await
            .unwrap();
        assert_eq!(copied, 20_000);
        let mut writers = Vec::new();
        for _ in 0..4 {
            writers.push(connect(&server).await);
        }
        let writes =
            futures::future::join_all(writers.iter().enumerate().map(|(w, b)| async move {
                for i in 0..100 {
                    let id = 20_000 + w as i32 * 100 + i;
                    b.execute("INSERT INTO w VALUES ($1, 'written')", &[&id])
                        .await
                        .unwrap();
                }
            }));
        let checkpoints = async {
            for _ in 0..5 {
                let done = a.simple_query("CHECKPOINT").await.unwrap();
                assert!(done
                    .iter()
                    .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(_))));
            }
        };
        // The bound only turns a hang into a failure.
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            futures::future::join(writes, checkpoints),
        )
        .await
        .expect("CHECKPOINT and INSERTs waited for each other");
        assert_eq!(count(&a, "w").await, 20_400);
        assert_eq!(
            simple(&a, "SELECT count(*) FROM w WHERE v = 'written'").await,
            vec![row(&[Some("400")])]
        );
    });
}
