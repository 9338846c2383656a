//! The request decoder: RESP arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and
//! inline commands (`GET k\r\n`), parsed without recursion and with Redis's limits checked
//! before anything is allocated:
//!
//! - at most `max_multibulk` arguments (Redis: 1,048,576) and `max_bulk` bytes per argument
//!   (Redis's `proto-max-bulk-len`, 512 MiB);
//! - before authentication, at most 10 arguments of at most 16 KiB (Redis 7 does the same);
//! - an inline command at most 64 KiB, a length line at most 32 bytes.
//!
//! A violation is a `ProtocolError` carrying Redis's message; the server replies with it and
//! closes the connection (Redis does the same: the stream can no longer be framed).
#![deny(clippy::indexing_slicing)]

/// Limits of the decoder.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Arguments per command.
    pub max_multibulk: usize,
    /// Bytes per argument.
    pub max_bulk: usize,
    /// Bytes of an inline command line.
    pub max_inline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_multibulk: 1024 * 1024,
            max_bulk: 512 << 20,
            max_inline: 64 << 10,
        }
    }
}

/// Limits for a client that has not authenticated yet.
const UNAUTH_MULTIBULK: usize = 10;
const UNAUTH_BULK: usize = 16 << 10;
/// Longest `*<n>` or `$<n>` line.
const MAX_LENGTH_LINE: usize = 32;

/// A request the stream cannot be framed past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(msg.into()))
}

/// A decoded command: its arguments, and how many input bytes it used.
pub type Decoded = (Vec<Vec<u8>>, usize);

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

/// Parses the number on a `*` or `$` line; `Ok(None)` if the line is incomplete.
fn length_line(buf: &[u8], at: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(end) = find_crlf(buf, at) else {
        if buf.len().saturating_sub(at) > MAX_LENGTH_LINE {
            return err(format!("too big {what} count"));
        }
        return Ok(None);
    };
    let digits = buf.get(at + 1..end).unwrap_or_default();
    if digits.len() > MAX_LENGTH_LINE {
        return err(format!("too big {what} count"));
    }
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    match n {
        Some(n) => Ok(Some((n, end + 2))),
        None => err(format!("invalid {what} length")),
    }
}

/// Decodes one command from the front of `buf`; `Ok(None)` if more bytes are needed.
/// `authenticated` selects the limits (see the module docs). An empty inline line decodes as
/// an empty command (Redis ignores it).
pub fn decode(
    buf: &[u8],
    limits: &Limits,
    authenticated: bool,
) -> Result<Option<Decoded>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => decode_multibulk(buf, limits, authenticated),
        Some(_) => decode_inline(buf, limits),
    }
}

fn decode_multibulk(
    buf: &[u8],
    limits: &Limits,
    authenticated: bool,
) -> Result<Option<Decoded>, ProtocolError> {
    let Some((count, mut at)) = length_line(buf, 0, "multibulk")? else {
        return Ok(None);
    };
    let max_count = if authenticated {
        limits.max_multibulk
    } else {
        UNAUTH_MULTIBULK
    };
    if count > max_count as i64 {
        return err(if authenticated {
            "invalid multibulk length"
        } else {
            "unauthenticated multibulk length"
        });
    }
    if count <= 0 {
        return Ok(Some((Vec::new(), at)));
    }
    let count = usize::try_from(count).unwrap_or(0);
    let max_bulk = if authenticated {
        limits.max_bulk
    } else {
        UNAUTH_BULK
    };
    // Capacity bounded by what the buffer could hold, never by the claimed count alone.
    let mut args = Vec::with_capacity(count.min(buf.len() / 4 + 1));
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(c) => return err(format!("expected '$', got '{}'", char::from(*c))),
        }
        let Some((len, data)) = length_line(buf, at, "bulk")? else {
            return Ok(None);
        };
        if len < 0 || len > max_bulk as i64 {
            return err(if authenticated {
                "invalid bulk length"
            } else {
                "unauthenticated bulk length"
            });
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let end = data.saturating_add(len);
        let Some(arg) = buf.get(data..end) else {
            return Ok(None);
        };
        match buf.get(end..end + 2) {
            None if buf.len() < end + 2 => return Ok(None),
            Some(b"\r\n") => {}
            _ => return err("expected CRLF after bulk string"),
        }
        args.push(arg.to_vec());
        at = end + 2;
    }
    Ok(Some((args, at)))
}

fn decode_inline(buf: &[u8], limits: &Limits) -> Result<Option<Decoded>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline {
            return err("too big inline request");
        }
        return Ok(None);
    };
    if nl > limits.max_inline {
        return err("too big inline request");
    }
    let line = buf.get(..nl).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Some((split_inline(line)?, nl + 1)))
}

/// Splits an inline command like Redis's `sdssplitargs`: spaces separate arguments; double
/// quotes allow `\n`, `\r`, `\t`, `\\`, `\"` and `\xHH` escapes; single quotes allow `\'`.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    let at = |i: usize| line.get(i).copied();
    loop {
        while at(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let Some(first) = at(i) else {
            return Ok(args);
        };
        let mut arg = Vec::new();
        match first {
            b'"' => {
                i += 1;
                loop {
                    match at(i) {
                        None => return err("unbalanced quotes in request"),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let hex = |c: Option<u8>| {
                                c.and_then(|c| char::from(c).to_digit(16))
                                    .and_then(|d| u8::try_from(d).ok())
                            };
                            match (at(i + 1), hex(at(i + 2)), hex(at(i + 3))) {
                                (Some(b'x'), Some(h), Some(l)) => {
                                    arg.push(h * 16 + l);
                                    i += 4;
                                }
                                (Some(c), _, _) => {
                                    arg.push(match c {
                                        b'n' => b'\n',
                                        b'r' => b'\r',
                                        b't' => b'\t',
                                        b'b' => 8,
                                        b'a' => 7,
                                        other => other,
                                    });
                                    i += 2;
                                }
                                (None, _, _) => return err("unbalanced quotes in request"),
                            }
                        }
                        Some(c) => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
                if at(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    return err("unbalanced quotes in request");
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match (at(i), at(i + 1)) {
                        (None, _) => return err("unbalanced quotes in request"),
                        (Some(b'\\'), Some(b'\'')) => {
                            arg.push(b'\'');
                            i += 2;
                        }
                        (Some(b'\''), _) => {
                            i += 1;
                            break;
                        }
                        (Some(c), _) => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
                if at(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    return err("unbalanced quotes in request");
                }
            }
            _ => {
                while let Some(c) = at(i).filter(|c| !c.is_ascii_whitespace()) {
                    arg.push(c);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    proptest! {
        #[test]
        fn commands_round_trip_whole_and_in_pieces(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode(&args);
            let limits = Limits::default();
            prop_assert_eq!(decode(&bytes, &limits, true).unwrap(), Some((args.clone(), bytes.len())));
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode(&bytes[..cut], &limits, true).unwrap(), None);
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes, &Limits::default(), true);
            let _ = decode(&bytes, &Limits::default(), false);
        }
    }

    #[test]
    fn limits_are_checked_before_allocating() {
        let l = Limits::default();
        let e = decode(b"*99999999999\r\n", &l, true).unwrap_err();
        assert_eq!(e.to_string(), "Protocol error: invalid multibulk length");
        let e = decode(b"*1\r\n$999999999999\r\n", &l, true).unwrap_err();
        assert_eq!(e.to_string(), "Protocol error: invalid bulk length");
        let e = decode(b"*11\r\n", &l, false).unwrap_err();
        assert_eq!(e.0, "unauthenticated multibulk length");
        let e = decode(b"*1\r\n$16385\r\n", &l, false).unwrap_err();
        assert_eq!(e.0, "unauthenticated bulk length");
        assert!(decode(b"*1\r\n$3\r\nabcXY", &l, true).is_err());
        assert!(decode(b"*1\r\nx", &l, true).is_err());
        assert!(decode(&[b'a'; 70_000], &l, true).is_err());
        assert!(decode(b"*abc\r\n", &l, true).is_err());
        assert_eq!(decode(b"*0\r\n", &l, true).unwrap(), Some((vec![], 4)));
    }

    #[test]
    fn inline_commands_split_like_redis() {
        let l = Limits::default();
        let (args, used) = decode(b"SET k \"a b\\x41\\n\" 'it\\'s'\r\nPING", &l, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            args,
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a bA\n".to_vec(),
                b"it's".to_vec()
            ]
        );
        assert_eq!(used, 27);
        assert_eq!(decode(b"\r\n", &l, true).unwrap(), Some((vec![], 2)));
        assert!(decode(b"GET \"open\r\n", &l, true).is_err());
    }
}
