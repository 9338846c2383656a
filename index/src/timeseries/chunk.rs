//! Gorilla compression of one chunk of time series samples.
//!
//! This module owns the byte format of a chunk: `(timestamp ms: i64, value: f64)` samples with
//! strictly increasing timestamps, compressed as in Facebook's Gorilla paper (Pelkonen et al.,
//! VLDB 2015): delta-of-delta timestamps and XOR-ed values.
//!
//! # Layout (version 1)
//!
//! ```text
//! offset  size  field
//! 0       1     version = 1
//! 1       4     sample count n, u32 LE
//! 5       8     first timestamp, i64 LE      (0 when n = 0)
//! 13      8     first value bits, u64 LE     (0 when n = 0)
//! 21      ..    bit stream for samples 2..=n, MSB first, zero-padded to a whole byte
//! ```
//!
//! Each sample after the first writes its timestamp then its value:
//!
//! - timestamp: `delta = ts - prev_ts`, `dod = delta - prev_delta` (both wrapping i64; the first
//!   `prev_delta` is 0), zigzag-encoded as `z`, then the paper's prefixes widened for i64 ms:
//!   `0` (dod = 0) | `10` + 7 bits | `110` + 9 bits | `1110` + 12 bits | `11110` + 32 bits |
//!   `11111` + 64 bits, the smallest bucket whose width holds `z`.
//! - value: `x = bits ^ prev_bits`: `0` if x = 0; `10` + the meaningful bits when x fits the
//!   previous window (leading zeros >= the window's, trailing zeros >= the window's); else `11` +
//!   5 bits of leading zeros (capped at 31) + 6 bits of meaningful length (64 written as 0) + the
//!   meaningful bits, which becomes the window.
//!
//! # Invariants
//!
//! - Round trips are bit-exact for every f64 (NaN payloads, ±inf, -0.0) and every strictly
//!   increasing i64 timestamp sequence, whatever the gaps (wrapping arithmetic both ways).
//! - [`decode`] accepts only what could have been written: it rejects trailing bytes, non-zero
//!   padding, windows that do not fit 64 bits, a window reuse before any window and timestamps
//!   that do not increase, so `Encoder::from_bytes` resumes at the exact bit where the stream
//!   ended and keeps appending consistently.
//! - Decoding untrusted bytes never panics and allocates at most what the input could hold: every
//!   sample after the first takes at least 2 bits, so a count larger than that is corrupt.
#![deny(clippy::indexing_slicing)]

use crate::{Error, Result};

/// Format version written in the first byte.
const VERSION: u8 = 1;
/// Bytes before the bit stream.
const HEADER_LEN: usize = 21;
/// Fewest bits one sample after the first can take (`0` timestamp, `0` value).
const MIN_SAMPLE_BITS: u64 = 2;

fn corrupt() -> Error {
    Error::Corrupt("time series chunk")
}

/// Appends samples to a growing chunk (the open chunk of a series).
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    /// The bit stream (samples 2..=n), MSB first; bits past `bits` in the last byte are zero.
    stream: Vec<u8>,
    /// Bits used in `stream`.
    bits: u64,
    /// Samples held.
    count: u32,
    first_ts: i64,
    first_bits: u64,
    last_ts: i64,
    last_delta: i64,
    last_bits: u64,
    /// (leading zeros, trailing zeros) of the current XOR window, once one was written.
    window: Option<(u32, u32)>,
}

impl Encoder {
    /// An empty chunk.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Appends a sample; returns false (and changes nothing) if `ts` is not greater than the last timestamp.
    pub fn push(&mut self, ts: i64, value: f64) -> bool {
        let bits = value.to_bits();
        if self.count == 0 {
            self.count = 1;
            self.first_ts = ts;
            self.first_bits = bits;
            self.last_ts = ts;
            self.last_bits = bits;
            self.last_delta = 0;
            return true;
        }
        if ts <= self.last_ts || self.count == u32::MAX {
            return false;
        }
        let delta = ts.wrapping_sub(self.last_ts);
        let dod = delta.wrapping_sub(self.last_delta);
        self.write_dod(dod);
        self.write_value(bits);
        self.last_ts = ts;
        self.last_delta = delta;
        self.last_bits = bits;
        self.count += 1;
        true
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no sample was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first sample's timestamp.
    pub fn first_ts(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_ts)
    }

    /// The last sample.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.count > 0).then_some((self.last_ts, f64::from_bits(self.last_bits)))
    }

    /// Bytes the encoded form takes now (the length of what [`Encoder::to_bytes`] returns).
    pub fn byte_len(&self) -> usize {
        HEADER_LEN + self.stream.len()
    }

    /// The encoded chunk; self-describing (it holds the sample count), read back by [`decode`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        out.push(VERSION);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.first_ts.to_le_bytes());
        out.extend_from_slice(&self.first_bits.to_le_bytes());
        out.extend_from_slice(&self.stream);
        out
    }

    /// Rebuilds an encoder (able to keep appending) from [`Encoder::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Encoder> {
        read_chunk(bytes, |_, _| {})
    }

    fn write_dod(&mut self, dod: i64) {
        // Zigzag: small magnitudes of either sign become small unsigned numbers.
        let z = ((dod << 1) ^ (dod >> 63)) as u64;
        if z == 0 {
            self.write_bits(0b0, 1);
        } else if z < 1 << 7 {
            self.write_bits(0b10, 2);
            self.write_bits(z, 7);
        } else if z < 1 << 9 {
            self.write_bits(0b110, 3);
            self.write_bits(z, 9);
        } else if z < 1 << 12 {
            self.write_bits(0b1110, 4);
            self.write_bits(z, 12);
        } else if z < 1 << 32 {
            self.write_bits(0b11110, 5);
            self.write_bits(z, 32);
        } else {
            self.write_bits(0b11111, 5);
            self.write_bits(z, 64);
        }
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.last_bits;
        if xor == 0 {
            self.write_bits(0b0, 1);
            return;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match self.window {
            Some((wl, wt)) if leading >= wl && trailing >= wt => {
                self.write_bits(0b10, 2);
                self.write_bits(xor >> wt, 64 - wl - wt);
            }
            _ => {
                let len = 64 - leading - trailing;
                self.write_bits(0b11, 2);
                self.write_bits(u64::from(leading), 5);
                self.write_bits(u64::from(len & 63), 6);
                self.write_bits(xor >> trailing, len);
                self.window = Some((leading, trailing));
            }
        }
    }

    /// Appends the low `n` bits of `value` (n <= 64), most significant first.
    fn write_bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            let used = (self.bits % 8) as u32;
            if used == 0 {
                self.stream.push(0);
            }
            let free = 8 - used;
            let take = free.min(n);
            let chunk = (value >> (n - take)) & ((1u64 << take) - 1);
            if let Some(last) = self.stream.last_mut() {
                *last |= (chunk as u8) << (free - take);
            }
            n -= take;
            self.bits += u64::from(take);
        }
    }
}

/// Reads bits MSB first from a byte slice, never past its end.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: u64,
}

impl BitReader<'_> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() as u64 * 8).saturating_sub(self.pos)
    }

    /// Reads `n` bits (n <= 64).
    fn read(&mut self, mut n: u32) -> Result<u64> {
        if u64::from(n) > self.remaining() {
            return Err(corrupt());
        }
        let mut out = 0u64;
        while n > 0 {
            let byte = *self
                .bytes
                .get((self.pos / 8) as usize)
                .ok_or_else(corrupt)?;
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(n);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            // `take` < 64, and a 64-bit read starts from 0, so nothing shifts out.
            out = (out << take) | chunk;
            n -= take;
            self.pos += u64::from(take);
        }
        Ok(out)
    }

    /// Counts leading 1 bits up to `max`, consuming them and the terminating 0 (if under `max`).
    fn read_prefix(&mut self, max: u32) -> Result<u32> {
        let mut ones = 0;
        while ones < max {
            if self.read(1)? == 0 {
                break;
            }
            ones += 1;
        }
        Ok(ones)
    }
}

/// Parses a chunk, calling `sample` with each (timestamp, value bits), and returns the encoder
/// state at its end.
fn read_chunk(bytes: &[u8], mut sample: impl FnMut(i64, u64)) -> Result<Encoder> {
    let header = bytes.get(..HEADER_LEN).ok_or_else(corrupt)?;
    let stream = bytes.get(HEADER_LEN..).ok_or_else(corrupt)?;
    let field = |from: usize, to: usize| header.get(from..to).ok_or_else(corrupt);
    if header.first() != Some(&VERSION) {
        return Err(corrupt());
    }
    let count = u32::from_le_bytes(field(1, 5)?.try_into().map_err(|_| corrupt())?);
    let first_ts = i64::from_le_bytes(field(5, 13)?.try_into().map_err(|_| corrupt())?);
    let first_bits = u64::from_le_bytes(field(13, 21)?.try_into().map_err(|_| corrupt())?);
    if count == 0 {
        if first_ts != 0 || first_bits != 0 || !stream.is_empty() {
            return Err(corrupt());
        }
        return Ok(Encoder::new());
    }
    let mut reader = BitReader {
        bytes: stream,
        pos: 0,
    };
    if u64::from(count - 1) > reader.remaining() / MIN_SAMPLE_BITS {
        return Err(corrupt());
    }
    let mut enc = Encoder {
        stream: Vec::new(),
        bits: 0,
        count,
        first_ts,
        first_bits,
        last_ts: first_ts,
        last_delta: 0,
        last_bits: first_bits,
        window: None,
    };
    sample(first_ts, first_bits);
    for _ in 1..count {
        let dod = match reader.read_prefix(5)? {
            0 => 0,
            k => {
                let width = match k {
                    1 => 7,
                    2 => 9,
                    3 => 12,
                    4 => 32,
                    _ => 64,
                };
                let z = reader.read(width)?;
                ((z >> 1) as i64) ^ -((z & 1) as i64)
            }
        };
        let delta = enc.last_delta.wrapping_add(dod);
        let ts = enc.last_ts.wrapping_add(delta);
        if ts <= enc.last_ts {
            return Err(corrupt());
        }
        let bits = match reader.read_prefix(2)? {
            0 => enc.last_bits,
            1 => {
                let (wl, wt) = enc.window.ok_or_else(corrupt)?;
                enc.last_bits ^ (reader.read(64 - wl - wt)? << wt)
            }
            _ => {
                let leading = reader.read(5)? as u32;
                let len = match reader.read(6)? as u32 {
                    0 => 64,
                    len => len,
                };
                if leading + len > 64 {
                    return Err(corrupt());
                }
                let trailing = 64 - leading - len;
                let meaningful = reader.read(len)?;
                enc.window = Some((leading, trailing));
                enc.last_bits ^ (meaningful << trailing)
            }
        };
        sample(ts, bits);
        enc.last_delta = delta;
        enc.last_ts = ts;
        enc.last_bits = bits;
    }
    // The stream must end in this byte, padded with zeros.
    let bits = reader.pos;
    if bits.div_ceil(8) != stream.len() as u64 || reader.read(reader.remaining() as u32)? != 0 {
        return Err(corrupt());
    }
    enc.stream = stream.to_vec();
    enc.bits = bits;
    Ok(enc)
}

/// Every sample of an encoded chunk, in order.
///
/// Err(`Error::Corrupt("time series chunk")`) on malformed or truncated input, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>> {
    // The count was checked against the stream length before any sample is produced, so this
    // capacity is bounded by the input size.
    let count = bytes
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0) as usize;
    let cap = count.min(bytes.len().saturating_mul(4) + 1);
    let mut out = Vec::with_capacity(cap);
    read_chunk(bytes, |ts, bits| out.push((ts, f64::from_bits(bits))))?;
    Ok(out)
}

/// An encoded chunk's first timestamp, read from its header (`None` if it has no header; an
/// empty chunk says 0).
pub fn first_ts(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(5..13)?.try_into().ok()?))
}

/// Appends the samples of an encoded chunk with timestamps in `[from, to]` to `out`, in order
/// (a range read: no vector per chunk).
///
/// Err(`Error::Corrupt("time series chunk")`) on malformed or truncated input, never a panic;
/// `out` may then hold some of the chunk's samples.
pub fn decode_range_into(
    bytes: &[u8],
    from: i64,
    to: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<()> {
    let count = bytes
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0) as usize;
    out.reserve(count.min(bytes.len().saturating_mul(4) + 1));
    read_chunk(bytes, |ts, bits| {
        if ts >= from && ts <= to {
            out.push((ts, f64::from_bits(bits)));
        }
    })?;
    Ok(())
}

/// Encodes sorted, strictly increasing samples (a chunk rewritten after an out-of-order insert).
///
/// Samples whose timestamp is not greater than the previous one are skipped.
pub fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut enc = Encoder::new();
    for &(ts, value) in samples {
        enc.push(ts, value);
    }
    enc.to_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn bits_of(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// Strictly increasing timestamps: arbitrary (huge gaps, extremes) or regular with jitter.
    fn timestamps() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::btree_set(any::<i64>(), 0..120)
                .prop_map(|s| s.into_iter().collect()),
            (
                any::<i64>(),
                proptest::collection::vec(
                    prop_oneof![Just(1000u64), 1..2000u64, 1..u64::MAX / 4],
                    0..300
                )
            )
                .prop_map(|(start, deltas)| {
                    let mut out = vec![start];
                    let mut ts = start;
                    for d in deltas {
                        match ts.checked_add_unsigned(d) {
                            Some(next) => {
                                out.push(next);
                                ts = next;
                            }
                            None => break,
                        }
                    }
                    out
                }),
            Just(vec![i64::MIN, -1, 0, 1, i64::MAX]),
            Just(vec![i64::MIN, i64::MAX]),
        ]
    }

    fn value_bits() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            Just(0f64.to_bits()),
            Just((-0f64).to_bits()),
            Just(f64::INFINITY.to_bits()),
            Just(f64::NEG_INFINITY.to_bits()),
            Just(f64::NAN.to_bits()),
            Just(0x7ff0_0000_0000_0001), // signalling NaN payload
            Just(0xfff8_dead_beef_0001), // negative quiet NaN with a payload
            Just(1),                     // smallest subnormal
            (0u32..16).prop_map(|i| (20.0 + f64::from(i) * 0.5).to_bits()),
        ]
    }

    fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
        timestamps().prop_flat_map(|ts| {
            let n = ts.len();
            (Just(ts), proptest::collection::vec(value_bits(), n)).prop_map(|(ts, vs)| {
                ts.into_iter()
                    .zip(vs)
                    .map(|(t, b)| (t, f64::from_bits(b)))
                    .collect()
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn encode_decode_round_trips(samples in samples()) {
            let bytes = encode(&samples);
            let back = decode(&bytes).unwrap();
            prop_assert_eq!(bits_of(&back), bits_of(&samples));
        }

        #[test]
        fn encoder_resumes_from_bytes(samples in samples(), split in any::<prop::sample::Index>()) {
            let at = if samples.is_empty() { 0 } else { split.index(samples.len() + 1) };
            let mut enc = Encoder::new();
            for &(t, v) in &samples[..at] {
                prop_assert!(enc.push(t, v));
            }
            prop_assert_eq!(enc.byte_len(), enc.to_bytes().len());
            let mut resumed = Encoder::from_bytes(&enc.to_bytes()).unwrap();
            prop_assert_eq!(resumed.len(), at);
            prop_assert_eq!(resumed.first_ts(), samples.first().filter(|_| at > 0).map(|s| s.0));
            prop_assert_eq!(resumed.last().map(|(t, v)| (t, v.to_bits())),
                            at.checked_sub(1).map(|i| (samples[i].0, samples[i].1.to_bits())));
            for &(t, v) in &samples[at..] {
                prop_assert!(resumed.push(t, v));
            }
            prop_assert_eq!(resumed.byte_len(), resumed.to_bytes().len());
            prop_assert_eq!(resumed.to_bytes(), encode(&samples));
            prop_assert_eq!(bits_of(&decode(&resumed.to_bytes()).unwrap()), bits_of(&samples));
        }

        #[test]
        fn a_range_read_keeps_exactly_the_samples_inside(
            samples in samples(), a in any::<i64>(), b in any::<i64>(),
        ) {
            let (from, to) = (a.min(b), a.max(b));
            let mut out = vec![(0, 0.0)];
            decode_range_into(&encode(&samples), from, to, &mut out).unwrap();
            let mut want = vec![(0, 0.0)];
            want.extend(samples.iter().copied().filter(|s| s.0 >= from && s.0 <= to));
            prop_assert_eq!(bits_of(&out), bits_of(&want));
            prop_assert_eq!(first_ts(&encode(&samples)), Some(samples.first().map_or(0, |s| s.0)));
            if let Some(&(t, _)) = samples.get(samples.len() / 2) {
                let mut mid = Vec::new();
                decode_range_into(&encode(&samples), t, t, &mut mid).unwrap();
                prop_assert_eq!(mid.len(), 1);
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
            let _ = decode_range_into(&bytes, i64::MIN, i64::MAX, &mut Vec::new());
            let _ = Encoder::from_bytes(&bytes);
        }

        #[test]
        fn garbage_after_a_valid_header_never_panics(
            count in any::<u32>(),
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut bytes = vec![VERSION];
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&5i64.to_le_bytes());
            bytes.extend_from_slice(&1f64.to_bits().to_le_bytes());
            bytes.extend_from_slice(&tail);
            if let Ok(samples) = decode(&bytes) {
                prop_assert_eq!(samples.len(), count as usize);
                prop_assert_eq!(bits_of(&decode(&encode(&samples)).unwrap()), bits_of(&samples));
            }
            let _ = Encoder::from_bytes(&bytes);
        }

        #[test]
        fn truncated_or_flipped_input_is_err_or_consistent(
            samples in samples(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let bytes = encode(&samples);
            let at = cut.index(bytes.len());
            prop_assert!(decode(&bytes[..at]).is_err());
            prop_assert!(Encoder::from_bytes(&bytes[..at]).is_err());
            let mut flipped = bytes.clone();
            flipped[flip.index(bytes.len())] ^= 1 << bit;
            // A flipped bit may still decode (e.g. inside a value, or as a valid but unusual
            // window); what it decodes to then round-trips.
            if let Ok(other) = decode(&flipped) {
                prop_assert_eq!(bits_of(&decode(&encode(&other)).unwrap()), bits_of(&other));
                let mut resumed = Encoder::from_bytes(&flipped).unwrap();
                prop_assert_eq!(resumed.len(), other.len());
                let next = other.last().map_or(0, |s| s.0.saturating_add(1));
                if next > other.last().map_or(i64::MIN, |s| s.0) {
                    prop_assert!(resumed.push(next, 1.5));
                    let again = decode(&resumed.to_bytes()).unwrap();
                    prop_assert_eq!(bits_of(&again[..other.len()]), bits_of(&other));
                    prop_assert_eq!(again.last().map(|s| s.0), Some(next));
                }
            }
        }
    }

    #[test]
    fn push_rejects_non_increasing_timestamps() {
        let mut enc = Encoder::new();
        assert!(enc.is_empty());
        assert_eq!(enc.first_ts(), None);
        assert_eq!(enc.last(), None);
        assert!(enc.push(10, 1.0));
        assert!(!enc.push(10, 2.0));
        assert!(!enc.push(9, 2.0));
        let before = enc.to_bytes();
        assert!(!enc.push(i64::MIN, 2.0));
        assert_eq!(enc.to_bytes(), before);
        assert!(enc.push(11, 2.0));
        assert_eq!(enc.len(), 2);
        assert_eq!(enc.first_ts(), Some(10));
        assert_eq!(enc.last(), Some((11, 2.0)));
    }

    #[test]
    fn empty_chunk_round_trips() {
        let bytes = Encoder::new().to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(Encoder::new().byte_len(), HEADER_LEN);
        assert!(decode(&bytes).unwrap().is_empty());
        assert!(Encoder::from_bytes(&bytes).unwrap().is_empty());
        assert_eq!(encode(&[]), bytes);
    }

    #[test]
    fn malformed_inputs_are_corrupt() {
        let good = encode(&[(1, 1.0), (2, 2.0), (4, -3.5)]);
        let is_corrupt = |b: &[u8]| matches!(decode(b), Err(Error::Corrupt("time series chunk")));
        assert!(is_corrupt(&[]));
        assert!(is_corrupt(&good[..HEADER_LEN - 1]));
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        assert!(is_corrupt(&bad_version));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(is_corrupt(&trailing));
        let mut huge_count = good.clone();
        huge_count[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(is_corrupt(&huge_count));
        let mut dirty_padding = good.clone();
        *dirty_padding.last_mut().unwrap() |= 1;
        assert!(is_corrupt(&dirty_padding) || decode(&dirty_padding).unwrap().len() == 3);
        // An empty chunk carries nothing else.
        let mut empty = Encoder::new().to_bytes();
        empty[5] = 1;
        assert!(is_corrupt(&empty));
    }

    /// Regular-interval gauge data: 1 s apart, values stepping by 0.5 around 20.
    #[test]
    fn gauge_data_compresses_well() {
        let n = 1000;
        let t0 = 1_700_000_000_000i64;
        let mut enc = Encoder::new();
        for i in 0..n {
            assert!(enc.push(t0 + 1000 * i, 20.0 + (i % 10) as f64 * 0.5));
        }
        let per_sample = enc.byte_len() as f64 / n as f64;
        println!("gauge 20.0 + (i % 10) * 0.5: {per_sample:.3} bytes/sample");
        assert!(per_sample < 1.5, "{per_sample} bytes/sample");

        // Integer-ish values that mostly repeat.
        let mut enc = Encoder::new();
        for i in 0..n {
            assert!(enc.push(t0 + 1000 * i, (40 + (i / 50) % 3) as f64));
        }
        let per_sample = enc.byte_len() as f64 / n as f64;
        println!("gauge slowly changing integers: {per_sample:.3} bytes/sample");
        assert!(per_sample < 0.5, "{per_sample} bytes/sample");
        let samples = decode(&enc.to_bytes()).unwrap();
        assert_eq!(samples.len(), n as usize);
    }
}
