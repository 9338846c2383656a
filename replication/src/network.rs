//! Raft's RPCs between nodes over TCP: openraft's `RaftNetwork` on the sending side
//! ([`Network`], one [`Peer`] per target), and [`serve`] on the receiving side, handing each
//! request to the local `Raft`.
//!
//! ```text
//! frame    := len u32 LE | body            body: postcard
//! request  := Append(AppendEntriesRequest) | Vote(VoteRequest) | Snapshot(InstallSnapshotRequest)
//! response := the matching Result<_, RaftError>
//! ```
//!
//! A connection carries one request at a time, answered in order; a peer reconnects on the
//! next call after any error. An entry batch is sent at most [`APPEND_BYTES`] of it at a
//! time, the rest left for the next call (a partial success), and one too large for a frame
//! is refused before it is sent (`PayloadTooLarge`), and openraft sends it again in smaller
//! batches. Invariants: a
//! frame's length is checked against [`MAX_FRAME`] before anything is allocated for it; a
//! malformed frame closes its connection and nothing else.

use std::io;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, EntryPayload, Raft};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::types::{NodeId, TypeConfig};

/// The largest frame accepted: an entry batch of `max_payload_entries` large commit batches,
/// or a snapshot chunk.
pub const MAX_FRAME: usize = 256 << 20;
/// The most entry bytes one AppendEntries carries (at least one entry is always sent).
/// openraft gives an AppendEntries one heartbeat interval (50 ms) to be answered, and sends
/// the same batch again after a timeout: a batch of `max_payload_entries` (300) large
/// entries to a follower far behind, on a busy machine, timed out every time and the
/// follower never caught up. Smaller pieces arrive in time; each is answered as a partial
/// success and openraft sends the next.
pub const APPEND_BYTES: usize = 512 << 10;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Serialize, Deserialize)]
enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

type AppendResult = Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>;
type VoteResult = Result<VoteResponse<NodeId>, RaftError<NodeId>>;
type SnapshotResult =
    Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>;

#[derive(Serialize, Deserialize)]
enum Response {
    Append(AppendResult),
    Vote(VoteResult),
    Snapshot(SnapshotResult),
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let len = stream.read_u32_le().await? as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("raft frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Encodes `value` as a frame (length prefix included); `None` if it is larger than `max`.
fn encode_frame(value: &impl Serialize, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut frame = vec![0; 4];
    frame = postcard::to_extend(value, frame).map_err(io::Error::other)?;
    let len = frame.len() - 4;
    match u32::try_from(len) {
        Ok(l) if len <= max => {
            frame[..4].copy_from_slice(&l.to_le_bytes());
            Ok(Some(frame))
        }
        _ => Ok(None),
    }
}

async fn write_frame(stream: &mut TcpStream, value: &impl Serialize) -> io::Result<()> {
    let frame = encode_frame(value, MAX_FRAME)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("raft frame over the {MAX_FRAME}-byte limit"),
        )
    })?;
    stream.write_all(&frame).await
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// What this node heard from leaders: each accepted AppendEntries (entries or a heartbeat)
/// with the leader's commit index in it, over the last few seconds. A follower read may run
/// once this node has applied what the leader had committed `bound` ago ([`Heard::fresh`]):
/// it then misses at most the writes of the last `bound`.
#[derive(Debug)]
pub struct Heard {
    origin: std::time::Instant,
    /// (milliseconds since `origin`, leader's commit index), oldest first.
    samples: std::sync::Mutex<std::collections::VecDeque<(u64, u64)>>,
}

/// Samples kept, and the least time between two: at least ten seconds of history however
/// many AppendEntries arrive (a newer commit index within `SAMPLE_MS` of the last sample
/// replaces its index, which only makes the check stricter).
const SAMPLES: usize = 1024;
const SAMPLE_MS: u64 = 10;

impl Default for Heard {
    fn default() -> Heard {
        Heard {
            origin: std::time::Instant::now(),
            samples: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }
}

impl Heard {
    fn millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A leader whose commit index is `commit` was heard now.
    pub fn record(&self, commit: u64) {
        self.record_at(self.millis(), commit);
    }

    fn record_at(&self, now: u64, commit: u64) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = s.back_mut() {
            if now.saturating_sub(last.0) < SAMPLE_MS {
                last.1 = last.1.max(commit);
                return;
            }
        }
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back((now, commit));
    }

    /// Whether a node that has applied up to `applied` holds everything its leader had
    /// committed `bound` ago: `Err(how long ago a leader was last heard)` if not (or if no
    /// leader was heard within `bound`, when it cannot know).
    pub fn fresh(
        &self,
        applied: u64,
        bound: Duration,
    ) -> std::result::Result<(), Option<Duration>> {
        self.fresh_at(self.millis(), applied, bound)
    }

    fn fresh_at(
        &self,
        now: u64,
        applied: u64,
        bound: Duration,
    ) -> std::result::Result<(), Option<Duration>> {
        let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        let s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let last = s
            .back()
            .map(|(at, _)| Duration::from_millis(now.saturating_sub(*at)));
        if last.is_none_or(|l| l > bound) {
            return Err(last);
        }
        // The leader's commit index as of `bound` ago: the latest sample at least that old
        // (none: this node has heard leaders only lately, and the oldest sample stands in).
        let then = now.saturating_sub(bound_ms);
        let commit = s
            .iter()
            .rev()
            .find(|(at, _)| *at <= then)
            .or(s.front())
            .map_or(0, |(_, c)| *c);
        if applied >= commit {
            Ok(())
        } else {
            Err(last)
        }
    }
}

/// Answers Raft RPCs arriving on `listener` with `raft`, recording in `heard` each
/// AppendEntries taken, until `stop` fires or its sender is dropped; it then closes every
/// connection before it returns.
///
/// Connections must not outlive the server: one left answering for a stopped `Raft` would
/// tell its peer "stopped" for ever, and a node restarted on the same address would not hear
/// from that peer over it.
pub async fn serve(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    heard: std::sync::Arc<Heard>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "raft accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connections (the branch is off while there are none).
            Some(_) = connections.join_next() => continue,
        };
        let raft = raft.clone();
        let heard = std::sync::Arc::clone(&heard);
        connections.spawn(async move {
            if let Err(e) = answer(stream, raft, &heard).await {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    tracing::warn!(%peer, error = %e, "raft connection closed");
                }
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

async fn answer(mut stream: TcpStream, raft: Raft<TypeConfig>, heard: &Heard) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let body = read_frame(&mut stream).await?;
        let response = match decode::<Request>(&body)? {
            Request::Append(rpc) => {
                let commit = rpc.leader_commit.map_or(0, |c| c.index);
                let r = raft.append_entries(rpc).await;
                if matches!(
                    r,
                    Ok(openraft::raft::AppendEntriesResponse::Success
                        | openraft::raft::AppendEntriesResponse::PartialSuccess(_))
                ) {
                    heard.record(commit);
                }
                Response::Append(r)
            }
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::Snapshot(rpc) => Response::Snapshot(raft.install_snapshot(rpc).await),
        };
        write_frame(&mut stream, &response).await?;
    }
}

/// Makes a [`Peer`] for each node Raft talks to.
#[derive(Debug, Clone)]
pub struct Network {
    max_frame: usize,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            max_frame: MAX_FRAME,
        }
    }
}

impl Network {
    /// Sends requests of at most `max_frame` bytes (at most [`MAX_FRAME`], what peers
    /// accept): larger entry batches are split (tests use a small limit to see it happen).
    pub fn with_max_frame(max_frame: usize) -> Network {
        Network {
            max_frame: max_frame.min(MAX_FRAME),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            conn: None,
            max_frame: self.max_frame,
        }
    }
}

/// The connection to one node.
pub struct Peer {
    target: NodeId,
    addr: String,
    conn: Option<TcpStream>,
    max_frame: usize,
}

/// Why a call failed: no connection (Raft backs off), a failure on one (Raft retries), or a
/// request too large for a frame (Raft sends fewer entries).
enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
    TooLarge,
}

impl Peer {
    async fn call(&mut self, request: &Request, ttl: Duration) -> Result<Response, CallError> {
        let frame = encode_frame(request, self.max_frame)
            .map_err(CallError::Network)?
            .ok_or(CallError::TooLarge)?;
        let mut stream = match self.conn.take() {
            Some(s) => s,
            None => {
                let connect = TcpStream::connect(&self.addr);
                let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(CallError::Unreachable(e)),
                    Err(_) => {
                        let e = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                        return Err(CallError::Unreachable(e));
                    }
                };
                stream.set_nodelay(true).map_err(CallError::Unreachable)?;
                stream
            }
        };
        let exchange = async {
            stream.write_all(&frame).await?;
            decode::<Response>(&read_frame(&mut stream).await?)
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(Ok(response)) => {
                self.conn = Some(stream);
                Ok(response)
            }
            Ok(Err(e)) => Err(CallError::Network(e)),
            Err(_) => Err(CallError::Network(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from node {} in {ttl:?}", self.target),
            ))),
        }
    }

    /// Sends `request` and takes its answer apart with `pick`.
    async fn rpc<T, E>(
        &mut self,
        request: Request,
        option: RPCOption,
        pick: impl FnOnce(Response) -> Option<Result<T, RaftError<NodeId, E>>>,
    ) -> Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        E: std::error::Error,
    {
        let entries = match &request {
            Request::Append(a) => a.entries.len(),
            _ => 0,
        };
        let response = self
            .call(&request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
                // Half as many entries; a single entry always fits (proposals are limited
                // to the Raft log's record size, far below a frame).
                CallError::TooLarge if entries > 1 => RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint((entries / 2) as u64),
                ),
                CallError::TooLarge => {
                    let e =
                        io::Error::new(io::ErrorKind::InvalidData, "request over the frame limit");
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        match pick(response) {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => {
                // A stopped node may be replaced by a new one on the same address: the next
                // call connects again instead of asking the stopped one for ever.
                if matches!(e, RaftError::Fatal(_)) {
                    self.conn = None;
                }
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            None => {
                self.conn = None;
                let e = io::Error::new(io::ErrorKind::InvalidData, "answer of another kind");
                Err(RPCError::Network(NetworkError::new(&e)))
            }
        }
    }
}

/// How many of `entries`, from the first, fit in `budget` bytes of payload (at least one).
fn entries_within(entries: &[crate::types::Entry], budget: usize) -> usize {
    let mut used = 0usize;
    for (i, e) in entries.iter().enumerate() {
        used += match &e.payload {
            EntryPayload::Normal(p) => p.0.len(),
            EntryPayload::Membership(_) | EntryPayload::Blank => 0,
        } + crate::codec::ENTRY_OVERHEAD;
        if used > budget {
            return i.max(1);
        }
    }
    entries.len()
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let keep = entries_within(&rpc.entries, APPEND_BYTES);
        let cut = keep < rpc.entries.len();
        rpc.entries.truncate(keep);
        let last = rpc.entries.last().map(|e| e.log_id);
        let answer = self
            .rpc(Request::Append(rpc), option, |r| match r {
                Response::Append(a) => Some(a),
                _ => None,
            })
            .await?;
        Ok(match answer {
            // The follower holds what was sent, up to `last`: openraft sends the rest next.
            AppendEntriesResponse::Success if cut => AppendEntriesResponse::PartialSuccess(last),
            other => other,
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(Request::Snapshot(rpc), option, |r| match r {
            Response::Snapshot(a) => Some(a),
            _ => None,
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.rpc(Request::Vote(rpc), option, |r| match r {
            Response::Vote(a) => Some(a),
            _ => None,
        })
        .await
    }
}

#[cfg(test)]
mod heard_tests {
    use super::Heard;
    use std::time::Duration;

    #[test]
    fn a_follower_is_fresh_once_it_applied_what_was_committed_a_bound_ago() {
        let bound = Duration::from_millis(1000);
        let h = Heard::default();
        assert_eq!(
            h.fresh_at(0, 100, bound),
            Err(None),
            "never heard: cannot know"
        );
        h.record_at(1_000, 10);
        h.record_at(1_500, 20);
        h.record_at(2_400, 30);
        // At 2,499 a second ago is 1,499: the leader had committed 10.
        assert_eq!(h.fresh_at(2_499, 10, bound), Ok(()));
        assert_eq!(
            h.fresh_at(2_499, 9, bound),
            Err(Some(Duration::from_millis(99)))
        );
        // From 2,500 on, 20.
        assert!(h.fresh_at(2_500, 19, bound).is_err());
        assert!(h.fresh_at(2_500, 20, bound).is_ok());
        // Nothing heard for longer than the bound: refused, however much was applied.
        assert_eq!(
            h.fresh_at(3_500, 1_000, bound),
            Err(Some(Duration::from_millis(1_100)))
        );
        // Heard only lately: the oldest sample stands in.
        let late = Heard::default();
        late.record_at(50, 7);
        assert!(late.fresh_at(100, 6, bound).is_err());
        assert!(late.fresh_at(100, 7, bound).is_ok());
    }
}

#[cfg(test)]
mod peer_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use openraft::error::{Fatal, RPCError, RaftError};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::VoteRequest;
    use openraft::{BasicNode, Vote};
    use tokio::net::TcpListener;

    use super::{read_frame, write_frame, Network, Response};

    /// A fake node: counts the connections it accepts and answers each request frame with
    /// `answer` (`None` ends the connection).
    async fn fake_node(
        listener: TcpListener,
        accepted: Arc<AtomicUsize>,
        answer: impl Fn(&[u8]) -> Option<Response> + Clone + Send + 'static,
    ) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                while let Ok(frame) = read_frame(&mut stream).await {
                    let Some(reply) = answer(&frame) else {
                        return;
                    };
                    if write_frame(&mut stream, &reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    /// A node that answers every request "stopped" (as a `Raft` that was shut down would) and
    /// counts the connections it accepts.
    async fn stopped_node(listener: TcpListener, accepted: Arc<AtomicUsize>) {
        fake_node(listener, accepted, |_| {
            Some(Response::Vote(Err(RaftError::Fatal(Fatal::Stopped))))
        })
        .await;
    }

    #[test]
    fn a_peer_answered_stopped_connects_again_for_its_next_call() {
        let rt = crate::tests::runtime();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let accepted = Arc::new(AtomicUsize::new(0));
            let server = tokio::spawn(stopped_node(listener, Arc::clone(&accepted)));
            let mut peer = Network::default()
                .new_client(1, &BasicNode::new(&addr))
                .await;
            let option = RPCOption::new(Duration::from_secs(10));
            for call in 1..=3 {
                let request = VoteRequest::new(Vote::new(call, 2), None);
                match peer.vote(request, option.clone()).await {
                    Err(RPCError::RemoteError(e)) => {
                        assert!(matches!(e.source, RaftError::Fatal(Fatal::Stopped)))
                    }
                    other => panic!("call {call}: {other:?}"),
                }
                // The connection that answered "stopped" is not used again.
                assert_eq!(accepted.load(Ordering::SeqCst), call as usize);
            }
            server.abort();
        });
    }

    /// A node that answers every AppendEntries "success" and reports how many entries each
    /// carried.
    async fn counting_node(
        listener: TcpListener,
        sizes: tokio::sync::mpsc::UnboundedSender<usize>,
    ) {
        fake_node(listener, Arc::default(), move |frame| {
            let Ok(super::Request::Append(a)) = postcard::from_bytes(frame) else {
                return None;
            };
            let _ = sizes.send(a.entries.len());
            Some(Response::Append(Ok(
                openraft::raft::AppendEntriesResponse::Success,
            )))
        })
        .await;
    }

    /// A batch of entries larger than `APPEND_BYTES` goes out in part, answered as a partial
    /// success up to the last entry sent (openraft then sends the rest); a small one whole.
    #[test]
    fn a_large_entry_batch_is_sent_in_pieces_of_bounded_size() {
        use crate::tests::entry;
        use crate::Proposal;
        use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
        use openraft::EntryPayload;
        let rt = crate::tests::runtime();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let (tx, mut sizes) = tokio::sync::mpsc::unbounded_channel();
            let server = tokio::spawn(counting_node(listener, tx));
            let mut peer = Network::default()
                .new_client(1, &BasicNode::new(&addr))
                .await;
            let option = RPCOption::new(Duration::from_secs(10));
            let big = super::APPEND_BYTES * 2 / 5;
            let request = |n: u64, len: usize| AppendEntriesRequest {
                vote: Vote::new_committed(3, 2),
                prev_log_id: None,
                leader_commit: None,
                entries: (1..=n)
                    .map(|i| entry(3, i, EntryPayload::Normal(Proposal(vec![7; len].into()))))
                    .collect(),
            };
            // Ten entries of two fifths of the budget each: two fit.
            let answer = peer.append_entries(request(10, big), option.clone()).await;
            assert_eq!(
                answer.unwrap(),
                AppendEntriesResponse::PartialSuccess(Some(
                    entry(3, 2, EntryPayload::Blank).log_id
                ))
            );
            assert_eq!(sizes.recv().await, Some(2));
            // One entry over the budget still goes, alone.
            let answer = peer
                .append_entries(request(3, big * 3), option.clone())
                .await;
            assert_eq!(
                answer.unwrap(),
                AppendEntriesResponse::PartialSuccess(Some(
                    entry(3, 1, EntryPayload::Blank).log_id
                ))
            );
            assert_eq!(sizes.recv().await, Some(1));
            // Small batches go whole.
            let answer = peer.append_entries(request(10, 100), option).await;
            assert_eq!(answer.unwrap(), AppendEntriesResponse::Success);
            assert_eq!(sizes.recv().await, Some(10));
            server.abort();
        });
    }
}
