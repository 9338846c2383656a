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
//! next call after any error. Invariants: a frame's length is checked against
//! [`MAX_FRAME`] before anything is allocated for it; a malformed frame closes its
//! connection and nothing else.

use std::io;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::types::{NodeId, TypeConfig};

/// The largest frame accepted: an entry batch of `max_payload_entries` large commit batches,
/// or a snapshot chunk.
pub const MAX_FRAME: usize = 256 << 20;
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

async fn write_frame(stream: &mut TcpStream, value: &impl Serialize) -> io::Result<()> {
    let body = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("raft frame of {} bytes", body.len())))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Answers Raft RPCs arriving on `listener` with `raft`, until the task is dropped.
pub async fn serve(listener: TcpListener, raft: Raft<TypeConfig>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "raft accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let raft = raft.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, raft).await {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    tracing::warn!(%peer, error = %e, "raft connection closed");
                }
            }
        });
    }
}

async fn answer(mut stream: TcpStream, raft: Raft<TypeConfig>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let body = read_frame(&mut stream).await?;
        let response = match decode::<Request>(&body)? {
            Request::Append(rpc) => Response::Append(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::Snapshot(rpc) => Response::Snapshot(raft.install_snapshot(rpc).await),
        };
        write_frame(&mut stream, &response).await?;
    }
}

/// Makes a [`Peer`] for each node Raft talks to.
#[derive(Debug, Clone, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            conn: None,
        }
    }
}

/// The connection to one node.
pub struct Peer {
    target: NodeId,
    addr: String,
    conn: Option<TcpStream>,
}

/// Why a call failed: no connection (Raft backs off) or a failure on one (Raft retries).
enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
}

impl Peer {
    async fn call(&mut self, request: &Request, ttl: Duration) -> Result<Response, CallError> {
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
            write_frame(&mut stream, request).await?;
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
        let response = self
            .call(&request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
            })?;
        match pick(response) {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            None => {
                self.conn = None;
                let e = io::Error::new(io::ErrorKind::InvalidData, "answer of another kind");
                Err(RPCError::Network(NetworkError::new(&e)))
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.rpc(Request::Append(rpc), option, |r| match r {
            Response::Append(a) => Some(a),
            _ => None,
        })
        .await
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
