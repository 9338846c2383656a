//! [`BatchFilter::row_verdict`]: the terms run on one stored row alone, in its block (a
//! scan's `prefilter`), with the verdict `BatchFilter::select` gives the row in a chunk.

use super::super::lanes::{lane_key, locate};
use super::{each_key_col, holds_text, BatchFilter, Class, Konst, Term, Verdict};

impl BatchFilter {
    /// What [`BatchFilter::select`] would make of one stored row, worked out for it alone
    /// (its columns located and decoded in place, the terms run in their order, stopping at
    /// the first that fails or meets a value no lane holds): a scan drops the rows that
    /// fail before it copies them (`prefilter`).
    pub(crate) fn row_verdict(&mut self, stored: &[u8]) -> Verdict {
        self.row_spans.iter_mut().for_each(|s| *s = None);
        self.row_keys.iter_mut().for_each(|k| *k = None);
        let spans = &mut self.row_spans;
        let whole = locate(stored, &self.slots, |c, span| {
            if let Some(slot) = spans.get_mut(c) {
                *slot = span;
            }
        });
        if !whole {
            return Verdict::Undecided;
        }
        // The terms are taken out while they run: a term reads the row's keys, which it
        // decodes into `row_keys` as it goes.
        let terms = std::mem::take(&mut self.terms);
        let mut verdict = Verdict::Pass;
        for t in &terms {
            match self.row_term(t, stored) {
                Some(true) => {}
                Some(false) => {
                    verdict = Verdict::Fail;
                    break;
                }
                None => {
                    verdict = Verdict::Undecided;
                    break;
                }
            }
        }
        self.terms = terms;
        verdict
    }

    /// An OR term over the row: its key columns decoded first (as `select` decodes them for
    /// the chunk's passing rows before running the branches), then true when every term of
    /// some branch is.
    fn row_any(&mut self, term: &Term, branches: &[Vec<Term>], stored: &[u8]) -> Option<bool> {
        if !each_key_col(term, &mut |c| self.row_key(c, stored).is_some()) {
            return None;
        }
        for branch in branches {
            let mut all = true;
            for t in branch {
                if !self.row_term(t, stored)? {
                    all = false;
                    break;
                }
            }
            if all {
                return Some(true);
            }
        }
        Some(false)
    }

    /// Column `c`'s key in the row [`BatchFilter::row_verdict`] looks at: Some(None) when
    /// NULL or text (no key), None when no lane holds the value (as `decode` turns a row
    /// undecided).
    fn row_key(&mut self, c: usize, stored: &[u8]) -> Option<Option<i128>> {
        let col = self.cols.get(c)?;
        let Some((a, b)) = *self.row_spans.get(c)? else {
            return Some(None);
        };
        if col.class == Class::Text {
            return Some(None);
        }
        if let Some(k) = *self.row_keys.get(c)? {
            return Some(Some(k));
        }
        let bytes = stored.get(a as usize..b as usize).unwrap_or_default();
        let k = lane_key(&col.ty, self.scale, bytes)?;
        if let Some(slot) = self.row_keys.get_mut(c) {
            *slot = Some(k);
        }
        Some(Some(k))
    }

    /// `term` over the row [`BatchFilter::row_verdict`] looks at, as `run_term` runs it
    /// over a chunk: whether it is true, None when a value it decodes has no key.
    fn row_term(&mut self, term: &Term, stored: &[u8]) -> Option<bool> {
        if let Term::Any(branches) = term {
            return self.row_any(term, branches, stored);
        }
        let (a, b) = match term {
            Term::Const { col, .. } | Term::In { col, .. } => (Some(*col), None),
            Term::Cols { left, right, .. } => (Some(*left), Some(*right)),
            _ => (None, None),
        };
        let ka = match a {
            Some(c) => self.row_key(c, stored)?,
            None => None,
        };
        let kb = match b {
            Some(c) => self.row_key(c, stored)?,
            None => None,
        };
        let text = |c: usize| -> Option<&[u8]> {
            let (a, b) = (*self.row_spans.get(c)?)?;
            stored.get(a as usize..b as usize)
        };
        let present = |c: usize| self.row_spans.get(c).is_some_and(Option::is_some);
        let is_text = |c: usize| self.cols.get(c).is_some_and(|c| c.class == Class::Text);
        Some(match term {
            // (An OR was answered above.)
            Term::Never | Term::Any(_) => false,
            Term::Null { col, negated } => present(*col) == *negated,
            Term::Const {
                col,
                op,
                value: Konst::Key(k),
            } => present(*col) && ka.is_some_and(|x| op.test(x.cmp(k))),
            Term::Const {
                col,
                op,
                value: Konst::Bytes(k),
            } => text(*col).is_some_and(|s| op.test(s.cmp(k.as_slice()))),
            Term::Like {
                col,
                pattern,
                negated,
            } => text(*col).is_some_and(|s| pattern.matches(s) != *negated),
            Term::Cols { left, op, right } => {
                let o = if is_text(*left) {
                    text(*left).zip(text(*right)).map(|(x, y)| x.cmp(y))
                } else {
                    ka.zip(kb).map(|(x, y)| x.cmp(&y))
                };
                o.is_some_and(|o| op.test(o))
            }
            // `x NOT IN (..., NULL)` is never true.
            Term::In {
                negated: true,
                null_item: true,
                ..
            } => false,
            Term::In {
                col, set, negated, ..
            } => {
                let hit = if is_text(*col) {
                    text(*col).map(|s| holds_text(set, s))
                } else {
                    ka.map(|x| set.contains(&Konst::Key(x)))
                };
                hit == Some(!*negated)
            }
        })
    }
}
