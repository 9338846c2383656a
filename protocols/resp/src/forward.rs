//! Write forwarding (`--forward-writes`): a cluster follower sends the commands it would
//! refuse to the leader and relays the leader's replies, so a client connected anywhere in
//! the cluster sees one Redis.
//!
//! What goes to the leader ([`Engine::route`]): writes; reads unless the connection sent
//! `READONLY` (those are served here, possibly stale); `MULTI` and `WATCH`, after which every
//! command of the connection goes there until `EXEC`, `DISCARD` or `UNWATCH` ends the
//! transaction ([`Pinned`]). The rest (connection, server and pub/sub commands) runs here.
//! Nothing is forwarded while this node leads, or while it knows no leader (it answers as a
//! replica does then).
//!
//! Each client connection forwards over its own connection to the leader ([`Upstream`]),
//! opened on first use with `HELLO <its protocol> [AUTH default <this node's requirepass>]
//! SETNAME orbit-forwarder` and kept selecting the client's database, so replies are relayed
//! byte for byte. A connection named `orbit-forwarder` is never forwarded again: a command
//! makes at most one hop, even while two nodes disagree about who leads.
//!
//! Invariants: replies reach the client in the order of its commands (a pipeline is cut
//! where it changes between forwarded and local commands, and each part is answered before
//! the next runs); a forwarded command whose reply did not arrive gets an error saying its
//! outcome is unknown, never a dropped connection; a forwarded command waits at most until
//! this node sees another leader (a stopped leader does not hold its clients forever).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{commands, Engine, Session};

/// The client name of a forwarding connection: its commands are never forwarded again.
pub const FORWARDER: &str = "orbit-forwarder";

/// How long connecting to the leader may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

/// How often a forwarded command's wait checks that the leader is still the one it went to.
const LEADER_CHECK: Duration = Duration::from_millis(100);

/// The most reply bytes buffered for one forwarded reply.
const MAX_REPLY: usize = 1 << 30;

/// A transaction a connection runs on the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The leader's RESP address.
    pub addr: String,
    /// Inside `MULTI` there.
    pub multi: bool,
    /// Keys watched there.
    pub watching: bool,
}

/// Where a command runs ([`Engine::route`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Local,
    /// On the leader, at this RESP address.
    Forward(String),
    /// Nowhere: answered with this error, and the connection closes after it (a command that
    /// would change the connection's state on the leader in a way the relay cannot follow,
    /// inside a forwarded transaction).
    Refuse(String),
}

impl Engine {
    /// Where `args` runs for `session` (see the module docs).
    pub fn route(&self, session: &Session, args: &[Vec<u8>]) -> Route {
        if !self.config.forward_writes
            || !session.authenticated
            || session.name.as_deref() == Some(FORWARDER)
        {
            return Route::Local;
        }
        let Some(name) = args.first() else {
            return Route::Local;
        };
        if let Some(p) = &session.pinned {
            // Everything goes to the leader's transaction, unknown commands included (the
            // leader refuses them, failing the transaction as Redis does), except QUIT and
            // what would change the leader-side connection behind the relay's back.
            let cmd = commands::lookup(name).map_or("", |c| c.name);
            return match cmd {
                "quit" => Route::Local,
                "select" if p.multi => Route::Refuse(refused("SELECT inside MULTI")),
                "hello" | "client" | "subscribe" | "psubscribe" | "unsubscribe"
                | "punsubscribe" | "readonly" | "readwrite" | "auth" => {
                    Route::Refuse(refused(&cmd.to_ascii_uppercase()))
                }
                _ => Route::Forward(p.addr.clone()),
            };
        }
        let Some(cmd) = commands::lookup(name) else {
            return Route::Local;
        };
        if session.multi.is_some() || (session.subscribed() && session.protocol < 3) {
            return Route::Local;
        }
        let wanted = cmd.write
            || matches!(cmd.name, "multi" | "watch")
            || (commands::reads_data(cmd) && !session.follower_reads);
        if !wanted {
            return Route::Local;
        }
        self.leader_resp_addr().map_or(Route::Local, Route::Forward)
    }

    /// The RESP address of the leader this node follows, if it knows it.
    fn leader_resp_addr(&self) -> Option<String> {
        match self.store.leadership() {
            orbit_txn::Leadership::Elsewhere(Some(leader)) => {
                orbit_txn::client_address(&leader, "resp").map(str::to_string)
            }
            _ => None,
        }
    }

    /// Whether the node still sees the leader at `addr`.
    fn leads_at(&self, addr: &str) -> bool {
        self.leader_resp_addr().as_deref() == Some(addr)
    }
}

impl Session {
    /// Records that `args` went to the leader at `addr`: a transaction there begins or ends.
    pub fn forwarded(&mut self, args: &[Vec<u8>], addr: &str) {
        let Some(cmd) = args.first().and_then(|n| commands::lookup(n)) else {
            return;
        };
        let mut pin = self.pinned.take().unwrap_or(Pinned {
            addr: addr.to_string(),
            multi: false,
            watching: false,
        });
        match cmd.name {
            "multi" => pin.multi = true,
            "watch" if !pin.multi => pin.watching = true,
            "exec" | "discard" => (pin.multi, pin.watching) = (false, false),
            "unwatch" if !pin.multi => pin.watching = false,
            _ => {}
        }
        if pin.multi || pin.watching {
            self.pinned = Some(pin);
        }
    }
}

fn refused(what: &str) -> String {
    format!(
        "ERR {what} is not supported in a transaction forwarded to the leader (MULTI/WATCH through a follower); the connection closes"
    )
}

/// One client connection's connection to the leader.
pub struct Upstream {
    addr: String,
    stream: TcpStream,
    /// Reply bytes read and not yet relayed.
    buf: Vec<u8>,
    framer: Framer,
    /// The database selected there (`None`: not known, after a forwarded `SELECT` in
    /// `MULTI`).
    db: Option<u8>,
    protocol: u8,
}

impl Upstream {
    /// Connects to the leader at `addr` and sets the connection up for `session`.
    async fn open(
        addr: &str,
        session: &Session,
        password: Option<&str>,
    ) -> Result<Upstream, String> {
        let stream = tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(addr))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut up = Upstream {
            addr: addr.to_string(),
            stream,
            buf: Vec::new(),
            framer: Framer::default(),
            db: Some(0),
            protocol: session.protocol,
        };
        up.hello(session.protocol, password).await?;
        Ok(up)
    }

    async fn hello(&mut self, protocol: u8, password: Option<&str>) -> Result<(), String> {
        let proto = protocol.to_string();
        let mut hello: Vec<&[u8]> = vec![b"HELLO", proto.as_bytes()];
        if let Some(p) = password {
            hello.extend([b"AUTH".as_slice(), b"default", p.as_bytes()]);
        }
        hello.extend([b"SETNAME".as_slice(), FORWARDER.as_bytes()]);
        self.setup(&hello).await?;
        self.protocol = protocol;
        Ok(())
    }

    /// Sends one command of the connection's own and checks that it succeeded.
    async fn setup(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut req = Vec::new();
        encode_command(args.iter().copied(), &mut req);
        self.stream
            .write_all(&req)
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        self.read_reply(&mut reply).await?;
        match reply.first() {
            Some(b'-' | b'!') => Err(String::from_utf8_lossy(&reply)
                .trim_start_matches(['-', '!'])
                .trim_end()
                .to_string()),
            _ => Ok(()),
        }
    }

    /// Brings the connection in line with `session` (protocol, database) where no
    /// transaction there would take the commands as part of it.
    async fn sync(
        &mut self,
        session: &Session,
        password: Option<&str>,
        multi: bool,
    ) -> Result<(), String> {
        if multi {
            return Ok(());
        }
        if self.protocol != session.protocol {
            self.hello(session.protocol, password).await?;
        }
        if self.db != Some(session.db) {
            let db = session.db.to_string();
            self.setup(&[b"SELECT", db.as_bytes()]).await?;
            self.db = Some(session.db);
        }
        Ok(())
    }

    /// Reads one whole reply and appends its bytes to `out`.
    async fn read_reply(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        loop {
            if let Some(end) = self.framer.next(&self.buf)? {
                out.extend(self.buf.drain(..end));
                return Ok(());
            }
            if self.buf.len() > MAX_REPLY {
                return Err(format!("a reply larger than {MAX_REPLY} bytes"));
            }
            self.buf.reserve(64 << 10);
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the connection closed".into());
            }
        }
    }
}

/// Sends `cmds` to the leader at `addr` over `upstream` (opened or replaced as needed) and
/// appends their replies to `out`, in order; a command whose reply did not arrive gets an
/// error instead. `multi`: the connection there is inside `MULTI` before these commands.
/// Updates `session`'s database as the commands went, and ends its transaction there if the
/// connection failed.
pub async fn forward(
    engine: &Engine,
    session: &mut Session,
    upstream: &mut Option<Upstream>,
    (addr, multi): (&str, bool),
    cmds: &[Vec<Vec<u8>>],
    out: &mut Vec<u8>,
) {
    let mut done = Relayed::default();
    let failed = tokio::select! {
        r = relay(engine, session, upstream, (addr, multi), cmds, out, &mut done) => r.err(),
        e = deposed(engine, addr) => Some(e),
    };
    if let Some(db) = done.selected {
        session.db = db;
    }
    if let Some(e) = failed {
        // The connection's state there is lost with it. A transaction there is lost too: the
        // client connection closes after these replies, so none of its later commands can
        // run outside the transaction they were sent in.
        *upstream = None;
        if session.pinned.take().is_some() {
            session.closing = true;
        }
        for _ in done.answered..cmds.len() {
            let msg = format!(
                "ERR the leader at {addr} did not answer ({e}): the command may or may not have run"
            );
            crate::Reply::Error(msg).encode(session.protocol, out);
        }
    }
}

/// How far [`relay`] got.
#[derive(Default)]
struct Relayed {
    answered: usize,
    /// The database a successful `SELECT` (outside `MULTI`) chose.
    selected: Option<u8>,
}

async fn relay(
    engine: &Engine,
    session: &Session,
    upstream: &mut Option<Upstream>,
    (addr, mut multi): (&str, bool),
    cmds: &[Vec<Vec<u8>>],
    out: &mut Vec<u8>,
    done: &mut Relayed,
) -> Result<(), String> {
    let password = engine.config.requirepass.as_deref();
    if upstream.as_ref().is_some_and(|u| u.addr != addr) {
        *upstream = None;
    }
    let up = match upstream {
        Some(up) => up,
        None => upstream.insert(Upstream::open(addr, session, password).await?),
    };
    up.sync(session, password, multi).await?;
    let mut req = Vec::new();
    for c in cmds {
        encode_command(c.iter().map(Vec::as_slice), &mut req);
    }
    up.stream.write_all(&req).await.map_err(|e| e.to_string())?;
    for c in cmds {
        let at = out.len();
        up.read_reply(out).await?;
        let ok = out.get(at) == Some(&b'+');
        match c.first().map(|n| n.to_ascii_lowercase()).as_deref() {
            Some(b"multi") => multi |= ok,
            Some(b"exec" | b"discard") => multi = false,
            Some(b"select") if multi => up.db = None,
            Some(b"select") if ok => {
                let db = c
                    .get(1)
                    .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok());
                up.db = db;
                done.selected = db;
            }
            _ => {}
        }
        done.answered += 1;
    }
    Ok(())
}

/// Returns once this node no longer sees the leader at `addr`.
async fn deposed(engine: &Engine, addr: &str) -> String {
    loop {
        tokio::time::sleep(LEADER_CHECK).await;
        if !engine.leads_at(addr) {
            return "this node now sees another leader".to_string();
        }
    }
}

/// A command as a RESP array of bulk strings.
fn encode_command<'a>(args: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Finds where one RESP2/RESP3 reply ends in a growing buffer, resuming where the last call
/// stopped (so a large reply arriving in pieces is scanned once). `redis-protocol` decodes
/// whole frames only: relaying bytes needs only their extent.
#[derive(Debug, Default)]
struct Framer {
    /// How far the current reply is scanned.
    pos: usize,
    /// Frames still to come in the current reply (0: none begun).
    remaining: u64,
}

impl Framer {
    /// `Some(end)`: the reply at the start of `buf` is `buf[..end]` (and the framer is ready
    /// for the next one); `None`: more bytes are needed.
    fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        if self.remaining == 0 {
            (self.pos, self.remaining) = (0, 1);
        }
        loop {
            let rest = buf.get(self.pos..).unwrap_or_default();
            let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let kind = rest.first().copied().unwrap_or(b'\r');
            let line = rest.get(1..nl).unwrap_or_default();
            let header = nl + 2;
            let count = || -> Result<i64, String> {
                std::str::from_utf8(line)
                    .ok()
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| {
                        format!(
                            "a bad length in a reply: {:?}",
                            String::from_utf8_lossy(line)
                        )
                    })
            };
            // Frames this one adds (its elements), besides completing itself.
            let mut more = 0u64;
            let mut done = true;
            match kind {
                b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => self.pos += header,
                b'$' | b'!' | b'=' => match usize::try_from(count()?) {
                    Ok(n) => {
                        let need = header.saturating_add(n).saturating_add(2);
                        if rest.len() < need {
                            return Ok(None);
                        }
                        self.pos += need;
                    }
                    // `$-1`: RESP2's null.
                    Err(_) => self.pos += header,
                },
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = u64::try_from(count()?).unwrap_or(0);
                    more = if matches!(kind, b'%' | b'|') {
                        n.saturating_mul(2)
                    } else {
                        n
                    };
                    // An attribute map comes before the frame it describes.
                    done = kind != b'|';
                    self.pos += header;
                }
                other => return Err(format!("a reply of unknown type {:?}", char::from(other))),
            }
            self.remaining = self.remaining - u64::from(done) + more;
            if self.remaining == 0 {
                return Ok(Some(std::mem::take(&mut self.pos)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Framer;
    use crate::Reply;
    use proptest::prelude::*;

    fn reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            Just(Reply::OK),
            "[a-z\r\n]{0,12}"
                .prop_map(|s| Reply::Error(format!("ERR {s}").replace(['\r', '\n'], " "))),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Reply::Bulk),
            Just(Reply::Nil),
            Just(Reply::NilArray),
            any::<f64>().prop_map(Reply::Double),
            any::<bool>().prop_map(Reply::Bool),
        ];
        // Map keys and set members are scalars (`redis-protocol` hashes them).
        let key = leaf.clone();
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
                proptest::collection::vec((key.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
                proptest::collection::vec(key.clone(), 0..6).prop_map(Reply::Set),
            ]
        })
    }

    proptest! {
        /// Replies encoded back to back, fed in arbitrary pieces: the framer finds exactly
        /// where each ends, in both protocols.
        #[test]
        fn the_framer_finds_every_reply_end(
            replies in proptest::collection::vec(reply(), 1..8),
            protocol in 2u8..=3,
            piece in 1usize..50,
        ) {
            let mut wire = Vec::new();
            let mut ends = Vec::new();
            for r in &replies {
                r.encode(protocol, &mut wire);
                ends.push(wire.len());
            }
            let mut framer = Framer::default();
            let (mut buf, mut base, mut fed, mut found) = (Vec::new(), 0, 0, Vec::new());
            while found.len() < ends.len() {
                match framer.next(&buf).unwrap() {
                    Some(end) => {
                        base += end;
                        found.push(base);
                        buf.drain(..end);
                    }
                    None => {
                        prop_assert!(fed < wire.len(), "the framer wants bytes past the end");
                        let to = (fed + piece).min(wire.len());
                        buf.extend_from_slice(&wire[fed..to]);
                        fed = to;
                    }
                }
            }
            prop_assert_eq!(found, ends);
        }
    }

    #[test]
    fn attributes_and_pushes_are_framed() {
        let mut f = Framer::default();
        let wire = b"|1\r\n+key\r\n:1\r\n*2\r\n+a\r\n>1\r\n+p\r\n";
        assert_eq!(f.next(wire).unwrap(), Some(wire.len()));
        assert!(Framer::default().next(b"?x\r\n").is_err());
        assert!(Framer::default().next(b"*x\r\n").is_err());
        assert_eq!(Framer::default().next(b"$5\r\nab").unwrap(), None);
    }
}
