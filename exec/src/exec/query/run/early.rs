//! Decoding a table scan's stored rows, with its filter looked at first.
//!
//! A filter over the table's columns sees each stored row with only its own columns decoded
//! (into one reused row); only the rows it keeps are decoded whole. That pays when it drops
//! most rows: once it has seen it keep half, rows are decoded whole first again (and the
//! filter runs over them then). Either way the rows that come out are exactly those that
//! pass the filter, decoded with the columns the query reads.
//!
//! When conjuncts of the filter compile for column batches (`batch_filter`), a chunk's rows
//! go through those first, all at once; only the rows they keep are looked at one by one
//! (by the conjuncts left), and only those are decoded whole. An aggregation over the scan
//! alone may take the rows that pass without their being decoded at all (`fold`,
//! `batch_agg`).

use super::super::from::TableSource;
use super::batch_agg::BatchAgg;
use super::batch_filter::{BatchFilter, Verdict};
use super::SCAN_CHUNK;
use crate::error::Result;
use crate::exec::agg::Aggregator;
use crate::expr::{EvalContext, Expr};
use crate::row::{decode_columns, decode_columns_into};
use crate::types::Value;
use orbit_lsm::Pairs;

/// One scan's decoding state (see the module doc).
pub(crate) struct Decoder<'t> {
    t: &'t TableSource,
    /// The filter and the columns it reads.
    early: Option<(&'t Expr, Vec<bool>)>,
    /// The filter compiled for column batches, once the first chunk comes (its constants
    /// are evaluated then); None inside when nothing of it compiles.
    batch: Option<Option<BatchFilter>>,
    scratch: Vec<Value>,
    seen: usize,
    passed: usize,
}

impl<'t> Decoder<'t> {
    pub(crate) fn new(t: &'t TableSource) -> Decoder<'t> {
        let width = t.table.columns.len();
        let early = t
            .filter
            .as_ref()
            .and_then(|f| Some((f, f.column_mask(width)?)));
        Decoder {
            t,
            early,
            batch: None,
            scratch: Vec::new(),
            seen: 0,
            passed: 0,
        }
    }

    /// The rows of a chunk of (storage key, stored row) pairs that pass the scan's filter,
    /// each followed by its key as bytea when the scan is keyed.
    pub(crate) fn rows(&mut self, raw: &Pairs, ectx: &EvalContext<'_>) -> Result<Vec<Vec<Value>>> {
        let t = self.t;
        let read = t.read.as_deref();
        if self.compiled(ectx) {
            let sel = self.selection(raw, ectx)?;
            return self.decode_selected(raw, &sel);
        }
        let early = self
            .early
            .as_ref()
            .filter(|_| self.seen < SCAN_CHUNK || self.passed * 2 < self.seen);
        let mut kept = Vec::with_capacity(raw.len());
        for (key, stored) in raw.iter() {
            let mut r = match early {
                Some((f, cols)) => {
                    decode_columns_into(&t.table, stored, Some(cols), &mut self.scratch)?;
                    self.seen += 1;
                    if !f.passes(&self.scratch, ectx)? {
                        continue;
                    }
                    self.passed += 1;
                    decode_columns(&t.table, stored, read)?
                }
                None => {
                    kept.extend(self.keep(key, decode_columns(&t.table, stored, read)?, ectx)?);
                    continue;
                }
            };
            if t.keyed {
                r.push(Value::Bytea(key.to_vec()));
            }
            kept.push(r);
        }
        Ok(kept)
    }

    /// Whether the filter has conjuncts compiled for column batches (compiled with the
    /// first chunk's context: its constants are evaluated then).
    fn compiled(&mut self, ectx: &EvalContext<'_>) -> bool {
        let t = self.t;
        let batch = self.batch.get_or_insert_with(|| {
            let f = t.filter.as_ref()?;
            BatchFilter::compile(&t.table, f, ectx)
        });
        batch.is_some() && self.early.is_some()
    }

    /// Which rows of a chunk pass the scan's filter, looking at the columns it reads only:
    /// the compiled conjuncts over the whole chunk first, then the rest row by row.
    fn selection(&mut self, raw: &Pairs, ectx: &EvalContext<'_>) -> Result<Vec<bool>> {
        let table = &self.t.table;
        let Some((whole, cols)) = self.early.as_ref() else {
            return Ok(vec![true; raw.len()]);
        };
        let batch = self.batch.as_mut().and_then(Option::as_mut);
        let verdicts = match batch {
            Some(b) => {
                b.select(raw);
                Some(&*b)
            }
            None => None,
        };
        let mut sel = Vec::with_capacity(raw.len());
        for (i, (_, stored)) in raw.iter().enumerate() {
            let verdict = verdicts.map_or(Verdict::Undecided, |b| b.verdicts()[i]);
            let check = match verdict {
                Verdict::Fail => {
                    sel.push(false);
                    continue;
                }
                Verdict::Pass => match verdicts {
                    Some(b) if b.residual_is_whole() => Some((*whole, cols.as_slice())),
                    b => b
                        .and_then(BatchFilter::residual)
                        .map(|(f, cols)| (f, cols.as_slice())),
                },
                Verdict::Undecided => Some((*whole, cols.as_slice())),
            };
            let pass = match check {
                None => true,
                Some((f, cols)) => {
                    decode_columns_into(table, stored, Some(cols), &mut self.scratch)?;
                    f.passes(&self.scratch, ectx)?
                }
            };
            sel.push(pass);
        }
        Ok(sel)
    }

    /// The selected rows of a chunk, decoded with the columns the query reads (keyed when
    /// the scan is).
    fn decode_selected(&self, raw: &Pairs, sel: &[bool]) -> Result<Vec<Vec<Value>>> {
        let t = self.t;
        let mut kept = Vec::new();
        for ((key, stored), _) in raw.iter().zip(sel).filter(|(_, s)| **s) {
            let mut r = decode_columns(&t.table, stored, t.read.as_deref())?;
            if t.keyed {
                r.push(Value::Bytea(key.to_vec()));
            }
            kept.push(r);
        }
        Ok(kept)
    }

    /// Folds the rows of a chunk that pass the scan's filter into `agg`: through `batch`
    /// (column batches: no row decoded) when it takes the chunk, else decoded and added row
    /// by row. Returns how many rows passed.
    pub(crate) fn fold(
        &mut self,
        raw: &Pairs,
        ectx: &EvalContext<'_>,
        batch: &BatchAgg,
        agg: &mut Aggregator<'_>,
    ) -> Result<usize> {
        if self.t.filter.is_some() && self.early.is_none() {
            // A filter over more than the stored columns: rows only.
            let rows = self.rows(raw, ectx)?;
            agg.add(&rows, ectx)?;
            return Ok(rows.len());
        }
        self.compiled(ectx);
        let sel = self.selection(raw, ectx)?;
        let passed = sel.iter().filter(|s| **s).count();
        if !agg.is_grouped() {
            // Hash groups: found across chunks by their stored key bytes.
            if batch.fold_into(raw, &sel, agg).is_none() {
                agg.add(&self.decode_selected(raw, &sel)?, ectx)?;
            }
            return Ok(passed);
        }
        match batch.fold(raw, &sel, true) {
            Some(groups) => {
                agg.merge_partials(groups)?;
                agg.seal(ectx)?;
            }
            None => agg.add(&self.decode_selected(raw, &sel)?, ectx)?,
        }
        Ok(passed)
    }

    /// [`Decoder::keep`] of the rows of a shared chunk (`Stored::Shared`), each copied only
    /// if it passes the filter.
    pub(crate) fn keep_shared(
        &self,
        rows: &[(Vec<u8>, Vec<Value>)],
        ectx: &EvalContext<'_>,
    ) -> Result<Vec<Vec<Value>>> {
        let mut kept = Vec::new();
        for (key, r) in rows {
            if self.passes(r, ectx)? {
                kept.push(self.keyed(key, r.clone()));
            }
        }
        Ok(kept)
    }

    /// Whether a decoded row passes the scan's filter.
    fn passes(&self, r: &[Value], ectx: &EvalContext<'_>) -> Result<bool> {
        match &self.t.filter {
            Some(f) => f.passes(r, ectx),
            None => Ok(true),
        }
    }

    /// A kept row with its storage key after it when the scan is keyed.
    fn keyed(&self, key: &[u8], mut r: Vec<Value>) -> Vec<Value> {
        if self.t.keyed {
            r.push(Value::Bytea(key.to_vec()));
        }
        r
    }

    /// A row decoded whole (`key` its storage key), if it passes the scan's filter: keyed
    /// when the scan is.
    pub(crate) fn keep(
        &self,
        key: &[u8],
        r: Vec<Value>,
        ectx: &EvalContext<'_>,
    ) -> Result<Option<Vec<Value>>> {
        Ok(self.passes(&r, ectx)?.then(|| self.keyed(key, r)))
    }
}
