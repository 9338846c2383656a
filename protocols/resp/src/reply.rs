//! Replies, and their encoding in RESP2 or RESP3 (through `redis-protocol`'s encoders, fed only
//! frames built here). Where RESP3 has a richer type than RESP2 (maps, sets, doubles,
//! booleans, null), the RESP2 form is what Redis sends: flat arrays, bulk strings, integers,
//! `$-1`/`*-1`.

use redis_protocol::resp2::types::{OwnedFrame as Frame2, Resp2Frame};
use redis_protocol::resp3::types::{OwnedFrame as Frame3, Resp3Frame};

/// A reply to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK` and friends.
    Simple(&'static str),
    /// An error line, e.g. `ERR syntax error` or `WRONGTYPE ...`.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// A missing value (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// A missing aggregate (`*-1` in RESP2, `_` in RESP3).
    NilArray,
    Array(Vec<Reply>),
    /// Key-value pairs (RESP2: a flat array).
    Map(Vec<(Reply, Reply)>),
    /// A set (RESP2: an array).
    Set(Vec<Reply>),
    /// A double (RESP2: a bulk string as Redis formats it).
    Double(f64),
    /// A double that RESP2 sends as a simple string (RedisTimeSeries' sample values; `NaN`
    /// spelled so); RESP3 as a double.
    SimpleDouble(f64),
    /// A boolean (RESP2: 1 or 0).
    Bool(bool),
    /// Out-of-band data (pub/sub messages; RESP2: an array).
    Push(Vec<Reply>),
    /// Several replies in a row for one command (SUBSCRIBE to several channels).
    Many(Vec<Reply>),
    /// Not a reply: a blocking command found nothing and waits until the deadline (Unix ms;
    /// `None`: forever). The connection handles it; encoded, it is a null array.
    Block(Option<u64>),
    /// Not a reply: the command's reply comes later (SAVE waits for a flush off the worker
    /// thread). The connection answers what came before, then awaits it; encoded, a null.
    Deferred(Deferred),
    /// Not a reply: the command must wait for a replicated write in flight on its keys
    /// (`crate::inflight`). The connection answers what came before, awaits the write and
    /// runs the command again; encoded, a null.
    Wait(Waiting),
}

/// A replicated write a command waits for ([`Reply::Wait`]).
#[derive(Clone)]
pub struct Waiting(pub std::sync::Arc<orbit_txn::Completion>);

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiting")
    }
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Waiting {
    /// Waits for the write to complete (its outcome is its writer's business).
    pub async fn done(self) {
        let _ = orbit_txn::Pending::Replicated(self.0).await;
    }
}

/// A reply still being computed elsewhere ([`Reply::Deferred`]).
#[derive(Debug, Clone)]
pub struct Deferred(
    std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<Reply>>>>,
);

impl Deferred {
    /// A deferred reply and the sender that completes it.
    pub fn new() -> (Deferred, tokio::sync::oneshot::Sender<Reply>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Deferred(std::sync::Arc::new(std::sync::Mutex::new(Some(rx)))),
            tx,
        )
    }

    /// Waits for the reply (an error if its sender went away).
    pub async fn reply(self) -> Reply {
        let rx = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        match rx {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Reply::err("ERR the command's work was abandoned")),
            None => Reply::err("ERR the reply was already taken"),
        }
    }
}

impl PartialEq for Deferred {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Reply {
    /// `+OK`.
    pub const OK: Reply = Reply::Simple("OK");

    /// An error reply; `msg` starts with its code (`ERR`, `WRONGTYPE`, ...).
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }

    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(b.as_ref().to_vec())
    }

    /// Whether this is, or holds at any depth, a null array (RESP2 writes those by hand).
    fn holds_nil_array(&self) -> bool {
        match self {
            Reply::NilArray | Reply::Block(_) => true,
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Many(v) => {
                v.iter().any(Reply::holds_nil_array)
            }
            Reply::Map(kv) => kv
                .iter()
                .any(|(k, v)| k.holds_nil_array() || v.holds_nil_array()),
            _ => false,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    fn frame2(&self) -> Frame2 {
        match self {
            Reply::Simple(s) => Frame2::SimpleString(s.as_bytes().to_vec()),
            Reply::Error(e) => Frame2::Error(e.clone()),
            Reply::Int(i) => Frame2::Integer(*i),
            Reply::Bulk(b) => Frame2::BulkString(b.clone()),
            Reply::Nil
            | Reply::NilArray
            | Reply::Block(_)
            | Reply::Deferred(_)
            | Reply::Wait(_) => Frame2::Null,
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Many(v) => {
                Frame2::Array(v.iter().map(Reply::frame2).collect())
            }
            Reply::Map(kv) => Frame2::Array(
                kv.iter()
                    .flat_map(|(k, v)| [k.frame2(), v.frame2()])
                    .collect(),
            ),
            Reply::Double(d) => Frame2::BulkString(redis_double(*d).into_bytes()),
            Reply::SimpleDouble(d) if d.is_nan() => Frame2::SimpleString(b"NaN".to_vec()),
            Reply::SimpleDouble(d) => Frame2::SimpleString(format_double(*d).into_bytes()),
            Reply::Bool(b) => Frame2::Integer(i64::from(*b)),
        }
    }

    fn frame3(&self) -> Frame3 {
        match self {
            Reply::Simple(s) => Frame3::SimpleString {
                data: s.as_bytes().to_vec(),
                attributes: None,
            },
            Reply::Error(e) => Frame3::SimpleError {
                data: e.clone(),
                attributes: None,
            },
            Reply::Int(i) => Frame3::Number {
                data: *i,
                attributes: None,
            },
            Reply::Bulk(b) => Frame3::BlobString {
                data: b.clone(),
                attributes: None,
            },
            Reply::Nil
            | Reply::NilArray
            | Reply::Block(_)
            | Reply::Deferred(_)
            | Reply::Wait(_) => Frame3::Null,
            Reply::Array(v) => Frame3::Array {
                data: v.iter().map(Reply::frame3).collect(),
                attributes: None,
            },
            Reply::Set(v) => Frame3::Set {
                data: v.iter().map(Reply::frame3).collect(),
                attributes: None,
            },
            Reply::Push(v) | Reply::Many(v) => Frame3::Push {
                data: v.iter().map(Reply::frame3).collect(),
                attributes: None,
            },
            Reply::Map(kv) => Frame3::Map {
                data: kv.iter().map(|(k, v)| (k.frame3(), v.frame3())).collect(),
                attributes: None,
            },
            Reply::Double(d) | Reply::SimpleDouble(d) => Frame3::Double {
                data: *d,
                attributes: None,
            },
            Reply::Bool(b) => Frame3::Boolean {
                data: *b,
                attributes: None,
            },
        }
    }

    /// Appends the reply's encoding in protocol `version` (2 or 3) to `out`.
    pub fn encode(&self, version: u8, out: &mut Vec<u8>) {
        if let Reply::Many(all) = self {
            for r in all {
                r.encode(version, out);
            }
            return;
        }
        // RESP2 has no null array frame in the encoder: write it by hand, and the arrays
        // that hold one (EXEC's replies) element by element.
        if version < 3 {
            match self {
                Reply::NilArray | Reply::Block(_) => {
                    out.extend_from_slice(b"*-1\r\n");
                    return;
                }
                Reply::Array(v) | Reply::Set(v) | Reply::Push(v)
                    if v.iter().any(Reply::holds_nil_array) =>
                {
                    out.extend_from_slice(format!("*{}\r\n", v.len()).as_bytes());
                    for r in v {
                        r.encode(version, out);
                    }
                    return;
                }
                Reply::Map(kv)
                    if kv
                        .iter()
                        .any(|(k, v)| k.holds_nil_array() || v.holds_nil_array()) =>
                {
                    out.extend_from_slice(format!("*{}\r\n", kv.len() * 2).as_bytes());
                    for (k, v) in kv {
                        k.encode(version, out);
                        v.encode(version, out);
                    }
                    return;
                }
                _ => {}
            }
        }
        let start = out.len();
        let result = if version >= 3 {
            let f = self.frame3();
            out.resize(start + f.encode_len(false), 0);
            redis_protocol::resp3::encode::complete::encode(
                out.get_mut(start..).unwrap_or_default(),
                &f,
                false,
            )
        } else {
            let f = self.frame2();
            out.resize(start + f.encode_len(false), 0);
            redis_protocol::resp2::encode::encode(
                out.get_mut(start..).unwrap_or_default(),
                &f,
                false,
            )
        };
        match result {
            Ok(n) => out.truncate(start + n),
            Err(e) => {
                // Unreachable with frames built above; never send a half-encoded reply.
                out.truncate(start);
                tracing::error!(error = %e, "reply encoding failed");
                out.extend_from_slice(b"-ERR internal error encoding the reply\r\n");
            }
        }
    }
}

/// Formats a double as Redis 7.2 writes one in a reply (`d2string`): `nan`, `inf`, `-inf`,
/// `0`, `-0`; an integer within ±2^62 as an integer; else the shortest digits that read back
/// as the same double, laid out as Redis's `fpconv_dtoa` does (`0.30000000000000004`,
/// `1.5`, `0.000001`, `1e+20`, `1.2345678912345679e+08`).
pub fn redis_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let half = (i64::MAX / 2) as f64;
    if (-half..=half).contains(&d) && d == d.trunc() {
        return (d as i64).to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d.ddddde±E`.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let e: i32 = exp.parse().unwrap_or(0);
    let mut out = String::new();
    if d < 0.0 {
        out.push('-');
    }
    emit_digits(&digits, e - (digits.len() as i32 - 1), d < 0.0, &mut out);
    out
}

/// fpconv's `emit_digits` (Redis 7.2's `fpconv_dtoa.c`): the value is `digits × 10^k`.
fn emit_digits(digits: &[u8], k: i32, neg: bool, out: &mut String) {
    let n = digits.len() as i32;
    let exp = (k + n - 1).abs();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if k >= 0 && exp < n + 7 {
        // A plain integer.
        out.push_str(&text(digits));
        out.extend(std::iter::repeat_n('0', k as usize));
        return;
    }
    if k < 0 && (k > -7 || exp < 4) {
        // A decimal without an exponent.
        let offset = n - k.abs();
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&text(digits));
        } else {
            let (int, frac) = digits.split_at(offset as usize);
            out.push_str(&text(int));
            out.push('.');
            out.push_str(&text(frac));
        }
        return;
    }
    // Scientific notation, at most 18 digits (17 when negative).
    let n = n.min(18 - i32::from(neg));
    let shown = digits.get(..n as usize).unwrap_or(digits);
    out.push_str(&text(&shown[..1]));
    if n > 1 {
        out.push('.');
        out.push_str(&text(&shown[1..]));
    }
    out.push('e');
    out.push(if k + n - 1 < 0 { '-' } else { '+' });
    out.push_str(&exp.to_string());
}

/// Formats a double the way RedisTimeSeries writes sample values in RESP2 (`inf`, `-inf`,
/// `nan`, integers whole, else the shortest digits, in exponent form past 17 characters).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if d.is_nan() {
        return "nan".to_string();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        // Exactly an integer below 2^63: as one (`{:.0}` takes the slow exact path); -0 stays.
        return match d == 0.0 && d.is_sign_negative() {
            true => "-0".to_string(),
            false => (d as i64).to_string(),
        };
    }
    let s = format!("{d}");
    if s.len() <= 17 {
        s
    } else {
        format!("{d:.17e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, v: u8) -> String {
        let mut out = Vec::new();
        r.encode(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn replies_encode_in_both_protocols() {
        assert_eq!(enc(&Reply::OK, 2), "+OK\r\n");
        assert_eq!(enc(&Reply::err("ERR x"), 3), "-ERR x\r\n");
        assert_eq!(enc(&Reply::Nil, 2), "$-1\r\n");
        assert_eq!(enc(&Reply::Nil, 3), "_\r\n");
        assert_eq!(enc(&Reply::NilArray, 2), "*-1\r\n");
        // Inside an array (EXEC's replies), at any depth.
        let exec = Reply::Array(vec![
            Reply::NilArray,
            Reply::Array(vec![Reply::Int(1), Reply::NilArray]),
            Reply::Nil,
        ]);
        assert_eq!(enc(&exec, 2), "*3\r\n*-1\r\n*2\r\n:1\r\n*-1\r\n$-1\r\n");
        assert_eq!(enc(&exec, 3), "*3\r\n_\r\n*2\r\n:1\r\n_\r\n_\r\n");
        assert_eq!(enc(&Reply::Int(-3), 2), ":-3\r\n");
        assert_eq!(enc(&Reply::bulk("ab"), 2), "$2\r\nab\r\n");
        let map = Reply::Map(vec![(Reply::bulk("f"), Reply::bulk("v"))]);
        assert_eq!(enc(&map, 2), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
        assert_eq!(enc(&map, 3), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
        assert_eq!(enc(&Reply::Double(1.5), 2), "$3\r\n1.5\r\n");
        // Redis 7.2's d2string / fpconv_dtoa layouts.
        for (d, want) in [
            (0.1 + 0.2, "0.30000000000000004"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (3.0, "3"),
            (-0.0, "-0"),
            (1e20, "1e+20"),
            (-1e20, "-1e+20"),
            (123456789.12345679, "1.2345678912345679e+8"),
            (1e-6, "0.000001"),
            (2.5e-5, "0.000025"),
            (1e-7, "1e-7"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (4611686018427387904.0, "4611686018427387904"),
            (1e19, "1e+19"),
        ] {
            assert_eq!(redis_double(d), want, "{d:e}");
        }
        assert_eq!(enc(&Reply::Double(1.5), 3), ",1.5\r\n");
        assert_eq!(enc(&Reply::SimpleDouble(3.0), 2), "+3\r\n");
        assert_eq!(enc(&Reply::SimpleDouble(f64::NAN), 2), "+NaN\r\n");
        assert_eq!(enc(&Reply::SimpleDouble(1.5), 3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), 2), ":1\r\n");
        assert_eq!(format_double(3.0), "3");
        for d in [0.0, -0.0, -7.0, 1e16, -99999999999999984.0, 123456789.0] {
            assert_eq!(format_double(d), format!("{d:.0}"), "{d}");
        }
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
