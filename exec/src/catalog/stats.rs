//! Planner statistics of a table, gathered by ANALYZE (PostgreSQL's `pg_class.reltuples` and
//! `pg_statistic`), and the selectivity primitives the optimizer reads from them.
//!
//! Values are kept as their memcomparable keys (`row::append_key`), so comparing a constant
//! with a histogram bound is a byte comparison and the statistics need no value codec of
//! their own. Keys are stored as hex text in the catalog's JSON.
//!
//! Invariants: `mcv` is sorted by descending frequency; `histogram` is sorted ascending and
//! covers the non-null values outside `mcv` in equal-population buckets; every frequency is
//! a fraction of all the table's rows (nulls included), so `null_frac` plus the MCV
//! frequencies never exceeds 1.

use serde::{Deserialize, Serialize};

/// A table's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// Rows when ANALYZE ran.
    pub rows: f64,
    pub columns: Vec<ColumnStats>,
}

/// One column's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// The column's id (`ColumnDef::id`).
    pub id: u32,
    /// Fraction of rows whose value is NULL.
    pub null_frac: f64,
    /// Distinct non-null values (estimated from the sample on large tables).
    pub distinct: f64,
    /// Most common values and their frequencies.
    #[serde(default)]
    pub mcv: Vec<(Key, f64)>,
    /// Equal-depth histogram bounds over the other non-null values.
    #[serde(default)]
    pub histogram: Vec<Key>,
}

/// A value's memcomparable key, stored as hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub Vec<u8>);

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut hex = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            hex.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let hex = String::deserialize(d)?;
        let bytes = hex.as_bytes();
        if bytes.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex key"));
        }
        bytes
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex key"))
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Key)
    }
}

/// A comparison of a column with a constant, for [`ColumnStats::compare_sel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl TableStats {
    /// The statistics of column `id`.
    pub fn column(&self, id: u32) -> Option<&ColumnStats> {
        self.columns.iter().find(|c| c.id == id)
    }
}

impl ColumnStats {
    /// Fraction of rows whose value equals `key`.
    pub fn eq_sel(&self, key: &[u8]) -> f64 {
        if let Some((_, f)) = self.mcv.iter().find(|(k, _)| k.0 == key) {
            return *f;
        }
        let rest = (1.0 - self.null_frac - self.mcv_total()).max(0.0);
        let others = (self.distinct - self.mcv.len() as f64).max(1.0);
        // A value outside the histogram's range is rare, not absent (the sample missed it).
        (rest / others).min(rest)
    }

    /// Fraction of rows whose value is not NULL and differs from `key`.
    pub fn ne_sel(&self, key: &[u8]) -> f64 {
        (1.0 - self.null_frac - self.eq_sel(key)).clamp(0.0, 1.0)
    }

    /// Fraction of rows whose value is within `lo`..`hi` (each bound: key, inclusive).
    pub fn range_sel(&self, lo: Option<(&[u8], bool)>, hi: Option<(&[u8], bool)>) -> f64 {
        let inside = |k: &[u8]| {
            lo.is_none_or(|(b, incl)| if incl { k >= b } else { k > b })
                && hi.is_none_or(|(b, incl)| if incl { k <= b } else { k < b })
        };
        let mcv: f64 = self
            .mcv
            .iter()
            .filter(|(k, _)| inside(&k.0))
            .map(|(_, f)| f)
            .sum();
        let rest = (1.0 - self.null_frac - self.mcv_total()).max(0.0);
        let below = |b: Option<(&[u8], bool)>, default: f64| match b {
            Some((k, _)) => self.histogram_below(k),
            None => default,
        };
        let frac = (below(hi, 1.0) - below(lo, 0.0)).max(0.0);
        // A range inside one bucket still holds something; assume a tenth of a bucket.
        let floor = if self.histogram.len() > 1 {
            0.1 / (self.histogram.len() - 1) as f64
        } else {
            0.005
        };
        (mcv + rest * frac.max(floor)).min(1.0)
    }

    /// Fraction of the histogram's population below `key` (bucket-granular, interpolating
    /// half a bucket when `key` falls inside one).
    fn histogram_below(&self, key: &[u8]) -> f64 {
        let h = &self.histogram;
        if h.len() < 2 {
            return 0.5;
        }
        let at = h.partition_point(|b| b.0.as_slice() < key);
        if at == 0 {
            return 0.0;
        }
        if at >= h.len() {
            return 1.0;
        }
        let buckets = (h.len() - 1) as f64;
        let exact = h.get(at).is_some_and(|b| b.0 == key);
        if exact {
            at as f64 / buckets
        } else {
            (at as f64 - 0.5) / buckets
        }
    }

    fn mcv_total(&self) -> f64 {
        self.mcv.iter().map(|(_, f)| f).sum()
    }

    /// Fraction of rows for `column cmp key`.
    pub fn compare_sel(&self, cmp: Cmp, key: &[u8]) -> f64 {
        match cmp {
            Cmp::Lt => self.range_sel(None, Some((key, false))),
            Cmp::LtEq => self.range_sel(None, Some((key, true))),
            Cmp::Gt => self.range_sel(Some((key, false)), None),
            Cmp::GtEq => self.range_sel(Some((key, true)), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(v: u8) -> Key {
        Key(vec![v])
    }

    fn uniform() -> ColumnStats {
        // Values 0..=100 spread evenly, no nulls, no common values.
        ColumnStats {
            id: 1,
            null_frac: 0.0,
            distinct: 101.0,
            mcv: Vec::new(),
            histogram: (0..=10).map(|i| k(i * 10)).collect(),
        }
    }

    #[test]
    fn ranges_follow_the_histogram() {
        let s = uniform();
        let half = s.compare_sel(Cmp::Lt, &[50]);
        assert!((half - 0.5).abs() < 0.01, "{half}");
        let quarter = s.range_sel(Some((&[20], true)), Some((&[45], true)));
        assert!((0.2..0.3).contains(&quarter), "{quarter}");
        assert!(s.compare_sel(Cmp::Gt, &[200]) < 0.02);
        assert!(s.compare_sel(Cmp::GtEq, &[0]) > 0.98);
    }

    #[test]
    fn equality_uses_common_values_then_the_rest() {
        let s = ColumnStats {
            id: 1,
            null_frac: 0.1,
            distinct: 11.0,
            mcv: vec![(k(7), 0.5)],
            histogram: vec![k(0), k(5), k(9)],
        };
        assert_eq!(s.eq_sel(&[7]), 0.5);
        // 0.4 of the rows spread over the 10 other values.
        assert!((s.eq_sel(&[3]) - 0.04).abs() < 1e-9);
        assert!((s.ne_sel(&[7]) - 0.4).abs() < 1e-9);
    }

    #[test]
    fn keys_round_trip_as_hex() {
        let s = TableStats {
            rows: 3.0,
            columns: vec![ColumnStats {
                mcv: vec![(Key(vec![0, 0xff, 0x10]), 0.25)],
                ..uniform()
            }],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"00ff10\""), "{json}");
        let back: TableStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<Key>("\"0g\"").is_err());
        assert!(serde_json::from_str::<Key>("\"abc\"").is_err());
    }
}
