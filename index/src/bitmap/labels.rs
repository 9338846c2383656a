//! The label index of time series: every series gets a small integer id; `(label, value)`
//! maps to the bitmap of the series carrying it, and a FILTER is bitmap algebra.
//!
//! The index lives in memory and is rebuilt from the series' metadata (which holds the labels)
//! when the server starts; callers re-check a candidate's metadata, so an entry left behind by
//! a key deleted by another path (DEL, FLUSHDB, expiry) is skipped and then removed.
//!
//! Filter expressions (RedisTimeSeries' syntax): `l=v` (label `l` is `v`), `l!=v` (is not `v`,
//! or absent), `l=` (absent), `l!=` (present), `l=(a,b)` (one of), `l!=(a,b)` (none of).

use std::collections::HashMap;

use roaring::RoaringBitmap;

/// One FILTER expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The label has one of these values.
    Eq(String, Vec<String>),
    /// The label has none of these values (or is absent).
    NotEq(String, Vec<String>),
    /// The label is absent.
    Missing(String),
    /// The label is present.
    Present(String),
}

impl Filter {
    /// Parses `l=v`, `l!=v`, `l=`, `l!=`, `l=(a,b)`, `l!=(a,b)`; `None` if malformed.
    pub fn parse(expr: &str) -> Option<Filter> {
        let (label, negated, value) = match expr.split_once("!=") {
            Some((l, v)) => (l, true, v),
            None => {
                let (l, v) = expr.split_once('=')?;
                (l, false, v)
            }
        };
        if label.is_empty() || label.contains(['=', '!']) {
            return None;
        }
        let label = label.to_string();
        if value.is_empty() {
            return Some(match negated {
                true => Filter::Present(label),
                false => Filter::Missing(label),
            });
        }
        let values: Vec<String> = match value.strip_prefix('(') {
            Some(list) => list
                .strip_suffix(')')?
                .split(',')
                .map(|v| v.trim().to_string())
                .collect(),
            None => vec![value.to_string()],
        };
        Some(match negated {
            true => Filter::NotEq(label, values),
            false => Filter::Eq(label, values),
        })
    }

    /// Whether `labels` satisfy this filter.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |l: &str| labels.iter().find(|(n, _)| n == l).map(|(_, v)| v);
        match self {
            Filter::Eq(l, vals) => get(l).is_some_and(|v| vals.contains(v)),
            Filter::NotEq(l, vals) => get(l).is_none_or(|v| !vals.contains(v)),
            Filter::Missing(l) => get(l).is_none(),
            Filter::Present(l) => get(l).is_some(),
        }
    }

    /// Whether the filter selects by a value a series has (RedisTimeSeries requires at least
    /// one such matcher in a FILTER).
    pub fn is_positive(&self) -> bool {
        matches!(self, Filter::Eq(..))
    }
}

/// A series' labels, as indexed.
type Labels = Vec<(String, String)>;

/// Series ids by label.
#[derive(Debug, Default)]
pub struct LabelIndex {
    postings: HashMap<(String, String), RoaringBitmap>,
    present: HashMap<String, RoaringBitmap>,
    all: RoaringBitmap,
    keys: HashMap<u32, Vec<u8>>,
    ids: HashMap<Vec<u8>, (u32, Labels)>,
    next: u32,
}

impl LabelIndex {
    /// An empty index.
    pub fn new() -> LabelIndex {
        LabelIndex::default()
    }

    /// Indexes `key` with `labels`, replacing what was indexed for it.
    pub fn insert(&mut self, key: &[u8], labels: &[(String, String)]) {
        self.remove(key);
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        for (l, v) in labels {
            self.postings
                .entry((l.clone(), v.clone()))
                .or_default()
                .insert(id);
            self.present.entry(l.clone()).or_default().insert(id);
        }
        self.all.insert(id);
        self.keys.insert(id, key.to_vec());
        self.ids.insert(key.to_vec(), (id, labels.to_vec()));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &[u8]) {
        let Some((id, labels)) = self.ids.remove(key) else {
            return;
        };
        for (l, v) in labels {
            let pair = (l, v);
            if let Some(b) = self.postings.get_mut(&pair) {
                b.remove(id);
                if b.is_empty() {
                    self.postings.remove(&pair);
                }
            }
            if let Some(b) = self.present.get_mut(&pair.0) {
                b.remove(id);
                if b.is_empty() {
                    self.present.remove(&pair.0);
                }
            }
        }
        self.all.remove(id);
        self.keys.remove(&id);
    }

    /// Series indexed.
    pub fn len(&self) -> u64 {
        self.all.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The keys of the series matching every filter, in id (creation) order.
    pub fn query(&self, filters: &[Filter]) -> Vec<Vec<u8>> {
        let mut set = self.all.clone();
        let union = |l: &str, vals: &[String]| {
            let mut u = RoaringBitmap::new();
            for v in vals {
                if let Some(b) = self.postings.get(&(l.to_string(), v.clone())) {
                    u |= b;
                }
            }
            u
        };
        for f in filters {
            match f {
                Filter::Eq(l, vals) => set &= union(l, vals),
                Filter::NotEq(l, vals) => set -= union(l, vals),
                Filter::Missing(l) => {
                    if let Some(b) = self.present.get(l) {
                        set -= b;
                    }
                }
                Filter::Present(l) => match self.present.get(l) {
                    Some(b) => set &= b,
                    None => set.clear(),
                },
            }
            if set.is_empty() {
                break;
            }
        }
        set.iter()
            .filter_map(|id| self.keys.get(&id).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_parse_as_redistimeseries_writes_them() {
        let f = |s| Filter::parse(s).unwrap();
        assert_eq!(f("a=b"), Filter::Eq("a".into(), vec!["b".into()]));
        assert_eq!(f("a!=b"), Filter::NotEq("a".into(), vec!["b".into()]));
        assert_eq!(f("a="), Filter::Missing("a".into()));
        assert_eq!(f("a!="), Filter::Present("a".into()));
        assert_eq!(
            f("a=(x,y)"),
            Filter::Eq("a".into(), vec!["x".into(), "y".into()])
        );
        assert_eq!(
            f("a!=(x,y)"),
            Filter::NotEq("a".into(), vec!["x".into(), "y".into()])
        );
        for bad in ["", "=b", "ab", "a=(x,y", "!=x"] {
            assert_eq!(Filter::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        /// The bitmap algebra agrees with checking every series' labels directly.
        #[test]
        fn queries_match_a_scan(
            series in proptest::collection::vec(proptest::collection::vec((0u8..3, 0u8..3), 0..3), 1..40),
            exprs in proptest::collection::vec((0u8..3, 0u8..6, 0u8..3, 0u8..3), 1..4),
            removed in proptest::collection::vec(0usize..40, 0..5),
        ) {
            let mut index = LabelIndex::new();
            let mut model = Vec::new();
            for (i, ls) in series.iter().enumerate() {
                let mut l: Vec<(String, String)> = Vec::new();
                for (n, v) in ls {
                    let n = format!("l{n}");
                    if !l.iter().any(|(x, _)| *x == n) {
                        l.push((n, format!("v{v}")));
                    }
                }
                let key = format!("k{i}").into_bytes();
                index.insert(&key, &l);
                model.push((key, l));
            }
            for r in removed {
                if r < model.len() {
                    index.remove(&model[r].0);
                    model[r].1 = vec![("gone".into(), "x".into())];
                    model[r].0.clear();
                }
            }
            let filters: Vec<Filter> = exprs.iter().map(|(l, op, a, b)| {
                let (l, a, b) = (format!("l{l}"), format!("v{a}"), format!("v{b}"));
                match op {
                    0 => Filter::Eq(l, vec![a]),
                    1 => Filter::NotEq(l, vec![a]),
                    2 => Filter::Missing(l),
                    3 => Filter::Present(l),
                    4 => Filter::Eq(l, vec![a, b]),
                    _ => Filter::NotEq(l, vec![a, b]),
                }
            }).collect();
            let want: Vec<Vec<u8>> = model.iter()
                .filter(|(k, l)| !k.is_empty() && filters.iter().all(|f| f.matches(l)))
                .map(|(k, _)| k.clone())
                .collect();
            prop_assert_eq!(index.query(&filters), want);
        }
    }

    #[test]
    fn reinserting_a_key_replaces_its_labels() {
        let mut index = LabelIndex::new();
        index.insert(b"a", &labels(&[("room", "k")]));
        index.insert(b"a", &labels(&[("room", "b")]));
        let room = |v: &str| vec![Filter::Eq("room".into(), vec![v.into()])];
        assert!(index.query(&room("k")).is_empty());
        assert_eq!(index.query(&room("b")), vec![b"a".to_vec()]);
        index.remove(b"a");
        assert!(index.is_empty() && index.query(&room("b")).is_empty());
    }
}
