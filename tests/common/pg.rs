//! Helpers for the PostgreSQL end-to-end tests: connecting with tokio-postgres, reading
//! simple-query rows as text, and SQLSTATE codes of errors.

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::Server;

/// A connection to `server` as `postgres`; its connection task runs on the current runtime.
pub async fn connect(server: &Server) -> Client {
    connect_watched(server).await.0
}

/// A running connection task: it ends when the server closes the connection.
pub type ConnTask = tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>;

/// [`connect`], with the connection task's handle: it ends when the server closes the
/// connection, with the error the server gave (a FATAL one, say).
pub async fn connect_watched(server: &Server) -> (Client, ConnTask) {
    connect_watched_to(server, "postgres").await
}

/// [`connect_watched`] to database `dbname`.
pub async fn connect_watched_to(server: &Server, dbname: &str) -> (Client, ConnTask) {
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname}",
            server.pg_port
        ),
        NoTls,
    )
    .await
    .unwrap();
    (client, tokio::spawn(conn))
}

/// The SQLSTATE of an error (or a description of the error that has none).
pub fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}

/// The text values of a simple query's rows.
pub async fn simple(c: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// A current-thread runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
