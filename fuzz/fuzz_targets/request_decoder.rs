//! Fuzzes the RESP request decoder (`orbit_resp::decode`), which parses untrusted bytes from
//! every client: it must never panic, never read past its input, consume at least one byte per
//! command, respect its limits, and decode the same commands whether the bytes arrive at once
//! or split at any point (as a socket delivers them).
//!
//! Run (stable toolchain, nightly features unlocked for the sanitizer):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run request_decoder -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_resp::decode::{decode, Limits};

/// Decodes every command in `buf`, as the connection loop does; stops at the first error
/// or at an incomplete command.
fn all(buf: &[u8], limits: &Limits, auth: bool) -> (Vec<Vec<Vec<u8>>>, usize, bool) {
    let (mut out, mut at) = (Vec::new(), 0);
    loop {
        match decode(&buf[at..], limits, auth) {
            Ok(Some((args, used))) => {
                assert!(
                    used > 0 && at + used <= buf.len(),
                    "consumed {used} at {at} of {}",
                    buf.len()
                );
                if buf[at] == b'*' {
                    assert!(args.len() <= limits.max_multibulk);
                    assert!(args.iter().all(|a| a.len() <= limits.max_bulk));
                    // Before AUTH a multibulk request is small, as in Redis.
                    if !auth {
                        assert!(args.len() <= 10 && args.iter().all(|a| a.len() <= 16 << 10));
                    }
                } else {
                    // An inline command is one line of at most `max_inline` bytes.
                    assert!(
                        used <= limits.max_inline + 2,
                        "inline command of {used} bytes"
                    );
                }
                out.push(args);
                at += used;
            }
            Ok(None) => return (out, at, false),
            Err(_) => return (out, at, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_multibulk: 64,
        max_bulk: 4096,
        max_inline: 1024,
    };
    for auth in [true, false] {
        let (whole, used, failed) = all(rest, &limits, auth);
        // The same bytes split in two: the first part's commands, then the rest's, match.
        let cut = usize::from(split) % (rest.len() + 1);
        let (first, used_first, failed_first) = all(&rest[..cut], &limits, auth);
        if failed_first {
            continue;
        }
        assert!(first.len() <= whole.len());
        assert_eq!(&whole[..first.len()], &first[..]);
        let (second, used_second, _) = all(&rest[used_first..], &limits, auth);
        let mut joined = first;
        joined.extend(second);
        if !failed {
            assert_eq!(joined, whole);
            assert_eq!(used_first + used_second, used);
        }
    }
});
