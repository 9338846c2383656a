//! A series' metadata: what TS.CREATE / TS.ALTER / TS.CREATERULE set and TS.INFO reports, and
//! its encoding (stored by the protocol layer beside the series' chunks).
//!
//! ```text
//! meta := version u8 (1) ‖ uid u64 ‖ retention u64 ‖ chunk_size u64 ‖ policy u8 (0 none, 1..=6)
//!         ‖ ignore_max_time_diff u64 ‖ ignore_max_val_diff f64 ‖ encoding u8 (0 compressed, 1 uncompressed)
//!         ‖ total_samples u64 ‖ first_ts (flag u8 ‖ i64) ‖ last (flag u8 ‖ i64 ‖ f64)
//!         ‖ labels: count u32 ‖ (name str ‖ value str)* ‖ source: flag u8 ‖ [key bytes]
//!         ‖ rules: count u32 ‖ (dest bytes ‖ aggregator u8 ‖ bucket i64 ‖ align i64 ‖ current flag u8 ‖ i64)*
//! str, bytes := len u32 ‖ bytes          (all integers little-endian)
//! ```
//! `uid` is random per created series: a cache of a series' open chunk is valid only for the
//! uid it was built from (a key deleted and created again is another series).

use crate::timeseries::aggregate::Aggregator;
use crate::{Error, Result};

/// What TS.ADD does with a sample whose timestamp already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// Refuse it (the default).
    Block,
    /// Keep the old value.
    First,
    /// Take the new value.
    Last,
    /// Keep the smaller.
    Min,
    /// Keep the larger.
    Max,
    /// Add them.
    Sum,
}

impl DuplicatePolicy {
    const ALL: [DuplicatePolicy; 6] = [
        DuplicatePolicy::Block,
        DuplicatePolicy::First,
        DuplicatePolicy::Last,
        DuplicatePolicy::Min,
        DuplicatePolicy::Max,
        DuplicatePolicy::Sum,
    ];

    /// Case-insensitive RedisTimeSeries name.
    pub fn parse(s: &str) -> Option<DuplicatePolicy> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// The lowercase name TS.INFO reports.
    pub fn name(self) -> &'static str {
        match self {
            DuplicatePolicy::Block => "block",
            DuplicatePolicy::First => "first",
            DuplicatePolicy::Last => "last",
            DuplicatePolicy::Min => "min",
            DuplicatePolicy::Max => "max",
            DuplicatePolicy::Sum => "sum",
        }
    }

    /// The value kept when `new` arrives for a timestamp holding `old`; `None`: refused.
    pub fn resolve(self, old: f64, new: f64) -> Option<f64> {
        match self {
            DuplicatePolicy::Block => None,
            DuplicatePolicy::First => Some(old),
            DuplicatePolicy::Last => Some(new),
            DuplicatePolicy::Min => Some(if new < old { new } else { old }),
            DuplicatePolicy::Max => Some(if new > old { new } else { old }),
            DuplicatePolicy::Sum => Some(old + new),
        }
    }

    fn code(self) -> u8 {
        match self {
            DuplicatePolicy::Block => 1,
            DuplicatePolicy::First => 2,
            DuplicatePolicy::Last => 3,
            DuplicatePolicy::Min => 4,
            DuplicatePolicy::Max => 5,
            DuplicatePolicy::Sum => 6,
        }
    }
}

/// How chunks are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Gorilla-compressed (the default).
    #[default]
    Compressed,
    /// Accepted for compatibility; stored compressed too (compression is lossless).
    Uncompressed,
}

/// A compaction rule: samples of this series are downsampled into `dest`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The destination series' key.
    pub dest: Vec<u8>,
    /// How each bucket is summarised.
    pub aggregator: Aggregator,
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// Bucket alignment, ms.
    pub align: i64,
    /// Start of the bucket being filled, once a sample arrived after the rule was created.
    pub current: Option<i64>,
}

/// A series' metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMeta {
    /// Random per created series.
    pub uid: u64,
    /// Samples older than the newest minus this are dropped; 0 keeps everything.
    pub retention_ms: u64,
    /// Target bytes of a sealed chunk.
    pub chunk_size: u64,
    /// The series' own policy (`None`: the server default, BLOCK).
    pub duplicate_policy: Option<DuplicatePolicy>,
    /// IGNORE: a sample within this many ms of the last one...
    pub ignore_max_time_diff: u64,
    /// ...and within this of its value is ignored (with policy LAST).
    pub ignore_max_val_diff: f64,
    /// Chunk encoding as created.
    pub encoding: Encoding,
    /// Samples held.
    pub total_samples: u64,
    /// Oldest sample's timestamp.
    pub first_ts: Option<i64>,
    /// Newest sample.
    pub last: Option<(i64, f64)>,
    /// Labels, in the order given.
    pub labels: Vec<(String, String)>,
    /// The series this one is the destination of a rule of.
    pub source: Option<Vec<u8>>,
    /// Rules with this series as their source.
    pub rules: Vec<Rule>,
    /// The position in the write log of samples (kept by the server) that this stored state
    /// includes: every logged sample of the series at a later position is not in it yet.
    pub log_pos: u64,
}

/// RedisTimeSeries' default chunk size (bytes).
pub const DEFAULT_CHUNK_SIZE: u64 = 4096;

impl SeriesMeta {
    /// A new series with RedisTimeSeries' defaults.
    pub fn new(uid: u64) -> SeriesMeta {
        SeriesMeta {
            uid,
            retention_ms: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            duplicate_policy: None,
            ignore_max_time_diff: 0,
            ignore_max_val_diff: 0.0,
            encoding: Encoding::Compressed,
            total_samples: 0,
            first_ts: None,
            last: None,
            labels: Vec::new(),
            source: None,
            rules: Vec::new(),
            log_pos: 0,
        }
    }

    /// The label's value, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The encoded form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        for v in [self.uid, self.retention_ms, self.chunk_size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(self.duplicate_policy.map_or(0, DuplicatePolicy::code));
        out.extend_from_slice(&self.ignore_max_time_diff.to_le_bytes());
        out.extend_from_slice(&self.ignore_max_val_diff.to_bits().to_le_bytes());
        out.push(match self.encoding {
            Encoding::Compressed => 0,
            Encoding::Uncompressed => 1,
        });
        out.extend_from_slice(&self.total_samples.to_le_bytes());
        put_opt_i64(&mut out, self.first_ts);
        match self.last {
            Some((ts, v)) => {
                out.push(1);
                out.extend_from_slice(&ts.to_le_bytes());
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            None => out.push(0),
        }
        put_u32(&mut out, self.labels.len());
        for (n, v) in &self.labels {
            put_bytes(&mut out, n.as_bytes());
            put_bytes(&mut out, v.as_bytes());
        }
        match &self.source {
            Some(s) => {
                out.push(1);
                put_bytes(&mut out, s);
            }
            None => out.push(0),
        }
        put_u32(&mut out, self.rules.len());
        for r in &self.rules {
            put_bytes(&mut out, &r.dest);
            out.push(agg_code(r.aggregator));
            out.extend_from_slice(&r.bucket_ms.to_le_bytes());
            out.extend_from_slice(&r.align.to_le_bytes());
            put_opt_i64(&mut out, r.current);
        }
        out.extend_from_slice(&self.log_pos.to_le_bytes());
        out
    }

    /// Decodes [`SeriesMeta::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<SeriesMeta> {
        decode(&mut Reader(bytes)).ok_or(Error::Corrupt("time series metadata"))
    }
}

fn decode(r: &mut Reader<'_>) -> Option<SeriesMeta> {
    if r.u8()? != 1 {
        return None;
    }
    let mut m = SeriesMeta::new(r.u64()?);
    m.retention_ms = r.u64()?;
    m.chunk_size = r.u64()?;
    m.duplicate_policy = match r.u8()? {
        0 => None,
        c => Some(*DuplicatePolicy::ALL.get(usize::from(c).checked_sub(1)?)?),
    };
    m.ignore_max_time_diff = r.u64()?;
    m.ignore_max_val_diff = f64::from_bits(r.u64()?);
    m.encoding = match r.u8()? {
        0 => Encoding::Compressed,
        1 => Encoding::Uncompressed,
        _ => return None,
    };
    m.total_samples = r.u64()?;
    m.first_ts = r.opt_i64()?;
    m.last = match r.u8()? {
        0 => None,
        1 => Some((r.u64()? as i64, f64::from_bits(r.u64()?))),
        _ => return None,
    };
    for _ in 0..r.u32()? {
        let n = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        let v = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        m.labels.push((n, v));
    }
    m.source = match r.u8()? {
        0 => None,
        1 => Some(r.bytes()?.to_vec()),
        _ => return None,
    };
    for _ in 0..r.u32()? {
        let dest = r.bytes()?.to_vec();
        let aggregator = *AGGREGATORS.get(usize::from(r.u8()?))?;
        let bucket_ms = r.u64()? as i64;
        let align = r.u64()? as i64;
        let current = r.opt_i64()?;
        m.rules.push(Rule {
            dest,
            aggregator,
            bucket_ms,
            align,
            current,
        });
    }
    // Absent in encodings written before the log existed.
    if !r.0.is_empty() {
        m.log_pos = r.u64()?;
    }
    r.0.is_empty().then_some(m)
}

/// Stored aggregator codes: the index in this list (never reorder).
const AGGREGATORS: [Aggregator; 13] = [
    Aggregator::Avg,
    Aggregator::Sum,
    Aggregator::Min,
    Aggregator::Max,
    Aggregator::Range,
    Aggregator::Count,
    Aggregator::First,
    Aggregator::Last,
    Aggregator::StdP,
    Aggregator::StdS,
    Aggregator::VarP,
    Aggregator::VarS,
    Aggregator::Twa,
];

fn agg_code(a: Aggregator) -> u8 {
    AGGREGATORS
        .iter()
        .position(|x| *x == a)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(0)
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len());
    out.extend_from_slice(b);
}

fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
    fn opt_i64(&mut self) -> Option<Option<i64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()? as i64)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_garbage_is_an_error() {
        let mut m = SeriesMeta::new(7);
        m.retention_ms = 60_000;
        m.duplicate_policy = Some(DuplicatePolicy::Sum);
        m.ignore_max_val_diff = 0.5;
        m.total_samples = 3;
        m.first_ts = Some(-5);
        m.last = Some((10, f64::NAN));
        m.labels = vec![
            ("room".into(), "kitchen".into()),
            ("unit".into(), "C".into()),
        ];
        m.source = Some(b"raw".to_vec());
        m.rules.push(Rule {
            dest: b"avg".to_vec(),
            aggregator: Aggregator::Twa,
            bucket_ms: 60_000,
            align: 5,
            current: Some(120_000),
        });
        m.log_pos = 99;
        let bytes = m.encode();
        let back = SeriesMeta::decode(&bytes).unwrap();
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.label("unit"), Some("C"));
        // Without its trailing log position: the encoding before the log existed.
        let old = SeriesMeta::decode(&bytes[..bytes.len() - 8]).unwrap();
        assert_eq!((old.log_pos, old.rules.len()), (0, 1));
        for cut in (0..bytes.len()).filter(|c| *c != bytes.len() - 8) {
            assert!(SeriesMeta::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(DuplicatePolicy::parse("SUM"), Some(DuplicatePolicy::Sum));
        assert_eq!(DuplicatePolicy::Min.resolve(2.0, 1.0), Some(1.0));
        assert_eq!(DuplicatePolicy::Block.resolve(2.0, 1.0), None);
    }
}
