//! Write forwarding (`--forward-writes`) for PostgreSQL clients: on a cluster follower, a
//! session is relayed whole to the leader, byte for byte after its startup message, so
//! transactions, prepared statements, COPY and errors are exactly the leader's (and its
//! writes are the leader's to take). A session that asks for follower reads at startup
//! (`options=-c orbit.read_from=follower`, e.g. `PGOPTIONS`) is served here instead, as
//! without forwarding.
//!
//! The decision is made once, when the session starts: a session relayed to a leader that
//! is later deposed gets that node's answers (SQLSTATE 25006 naming the new leader), and one
//! whose leader dies sees its connection close, as a client of the leader would. The relayed
//! startup carries `orbit.forwarded=on`, and a session carrying it is never relayed again (one
//! hop, even while two nodes disagree about who leads). The client authenticates with the
//! leader (the nodes share their users); TLS, if the client asked for it, ends here, and the
//! hop to the leader is plain TCP.
//!
//! A CancelRequest is sent to the leader as well as handled here: the key may be a relayed
//! session's, which only the leader knows.

use std::time::Duration;

use bytes::BytesMut;
use pgwire::messages::startup::Startup;
use pgwire::messages::PgWireFrontendMessage;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The startup parameter a relayed session carries.
pub const FORWARDED: &str = "orbit.forwarded";

/// How long connecting to the leader may take (then the session is served here).
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

/// The settings in a startup `options` parameter, as PostgreSQL reads it: `-c name=value`
/// and `--name=value`, separated by spaces, a backslash escaping the next character.
pub fn startup_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_ascii_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let setting = if w == "-c" {
            it.next()
        } else {
            w.strip_prefix("--")
                .or_else(|| w.strip_prefix("-c"))
                .map(str::to_string)
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((name.replace('-', "_").to_lowercase(), value.to_string()));
        }
    }
    out
}

/// Whether a session starting with `startup` is relayed (see the module docs).
pub fn relays(startup: &Startup) -> bool {
    if startup.parameters.contains_key(FORWARDED) {
        return false;
    }
    let follower = |(name, value): &(String, String)| {
        name == "orbit.read_from" && value.eq_ignore_ascii_case("follower")
    };
    !startup
        .parameters
        .get("options")
        .is_some_and(|o| startup_options(o).iter().any(follower))
}

/// Connects to the leader's PostgreSQL address; `None` if it cannot be reached (the session
/// is then served here).
pub async fn connect(leader: &str) -> Option<TcpStream> {
    match tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(leader)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        Ok(Err(e)) => {
            tracing::warn!(leader, error = %e, "cannot reach the leader: serving the session here");
            None
        }
        Err(_) => {
            tracing::warn!(
                leader,
                "connecting to the leader timed out: serving the session here"
            );
            None
        }
    }
}

/// Relays the session: sends `startup` (marked as relayed) and `pending` (what the client
/// sent after it) to `upstream`, then copies both ways until either side closes.
pub async fn relay<C>(
    client: &mut C,
    mut upstream: TcpStream,
    mut startup: Startup,
    pending: &[u8],
) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    startup
        .parameters
        .insert(FORWARDED.to_string(), "on".to_string());
    let mut buf = BytesMut::new();
    PgWireFrontendMessage::Startup(startup)
        .encode(&mut buf)
        .map_err(std::io::Error::other)?;
    buf.extend_from_slice(pending);
    upstream.write_all(&buf).await?;
    tokio::io::copy_bidirectional(client, &mut upstream).await?;
    Ok(())
}

/// Sends a CancelRequest on to the leader (it answers nothing; errors are of no interest to
/// the client, which gets no reply either way).
pub async fn cancel(leader: &str, msg: &PgWireFrontendMessage) {
    let mut buf = BytesMut::new();
    if msg.encode(&mut buf).is_err() {
        return;
    }
    if let Some(mut s) = connect(leader).await {
        let _ = s.write_all(&buf).await;
        let _ = s.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> Vec<(String, String)> {
        startup_options(s)
    }

    #[test]
    fn options_are_read_as_postgres_reads_them() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            opts("-c orbit.read_from=follower"),
            vec![pair("orbit.read_from", "follower")]
        );
        assert_eq!(
            opts("  -cstatement_timeout=5s --search-path=a\\ b  "),
            vec![pair("statement_timeout", "5s"), pair("search_path", "a b")]
        );
        assert_eq!(opts("-c"), vec![]);
        assert_eq!(opts("junk -c novalue"), vec![]);
    }

    #[test]
    fn follower_read_sessions_and_relayed_ones_are_not_relayed() {
        let mut s = Startup::new();
        s.parameters.insert("user".into(), "u".into());
        assert!(relays(&s));
        s.parameters
            .insert("options".into(), "-c orbit.read_from=Follower".into());
        assert!(!relays(&s));
        s.parameters
            .insert("options".into(), "-c orbit.read_from=leader".into());
        assert!(relays(&s));
        s.parameters.insert(FORWARDED.into(), "on".into());
        assert!(!relays(&s));
    }
}
