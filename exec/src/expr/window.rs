//! Binding of window function calls (`f(args) OVER (PARTITION BY ... ORDER BY ... frame)`):
//! the ranking and value functions PostgreSQL has (row_number, rank, dense_rank,
//! percent_rank, cume_dist, ntile, lag, lead, first_value, last_value, nth_value) and every
//! aggregate over a window.
//!
//! A call binds its arguments, partition and order keys over the row the select list sees
//! (the aggregated row when the query groups, so `sum(count(*)) OVER ()` works), and is handed
//! to the planner ([`BindEnv::add_window`]), which gives it a slot. The call's value is read
//! as `Expr::Column(WINDOW_SLOT + slot)` until the planner knows how wide that row is and
//! moves the references past its end (`crate::exec::window` appends the values there).

use sqlparser::ast;

use super::aggregates::{agg_kind, agg_type};
use super::{AggCall, AggKind, Binder, Expr};
use crate::error::{code, Error, Result};
use crate::types::DataType;

/// Where window values are referenced from until the planner places them (far above any
/// real column, far below the `usize::MAX - i` output-column keys of ORDER BY).
pub const WINDOW_SLOT: usize = usize::MAX / 4;

/// A window function.
#[derive(Debug, Clone)]
pub enum WinFunc {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    Ntile,
    Lag,
    Lead,
    FirstValue,
    LastValue,
    NthValue,
    /// An aggregate over the frame (its argument and FILTER in the call).
    Agg(AggCall),
}

/// One end of a frame.
#[derive(Debug, Clone)]
pub enum Bound {
    UnboundedPreceding,
    /// `n PRECEDING` (ROWS only).
    Preceding(Expr),
    CurrentRow,
    /// `n FOLLOWING` (ROWS only).
    Following(Expr),
    UnboundedFollowing,
}

/// A window frame: ROWS counts rows, RANGE (without offsets) extends to the current row's
/// peers (rows equal in the window's ORDER BY).
#[derive(Debug, Clone)]
pub struct Frame {
    pub rows: bool,
    pub start: Bound,
    pub end: Bound,
}

/// A bound window function call.
#[derive(Debug, Clone)]
pub struct WindowCall {
    pub func: WinFunc,
    /// The function's arguments (an aggregate's are in its `AggCall`).
    pub args: Vec<Expr>,
    pub partition: Vec<Expr>,
    /// (key, descending, nulls first).
    pub order: Vec<(Expr, bool, bool)>,
    pub frame: Frame,
}

fn unsupported(what: &str) -> Error {
    Error::new(code::FEATURE_NOT_SUPPORTED, what.to_string())
}

impl Binder<'_> {
    /// Binds `name(args) OVER (...)`; `over` is the call's window.
    pub(super) fn window_function(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        distinct: bool,
        star: bool,
        f: &ast::Function,
    ) -> Result<(Expr, DataType)> {
        let Some(ast::WindowType::WindowSpec(spec)) = &f.over else {
            return Err(unsupported(
                "named windows (WINDOW w AS ...) are not supported",
            ));
        };
        if spec.window_name.is_some() {
            return Err(unsupported(
                "named windows (WINDOW w AS ...) are not supported",
            ));
        }
        if distinct {
            return Err(unsupported(
                "DISTINCT is not implemented for window functions",
            ));
        }
        if let ast::FunctionArguments::List(list) = &f.args {
            if !list.clauses.is_empty() {
                return Err(unsupported(
                    "aggregate ORDER BY is not implemented for window functions",
                ));
            }
        }
        let mut bound = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for a in args {
            let (x, t) = self.bind(a)?;
            bound.push(x);
            types.push(t);
        }
        let arity = |lo: usize, hi: usize| -> Result<()> {
            if (lo..=hi).contains(&args.len()) {
                Ok(())
            } else {
                Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!(
                        "function {name} with {} arguments does not exist",
                        args.len()
                    ),
                ))
            }
        };
        let first = types.first().cloned().unwrap_or(DataType::Unknown);
        let (func, ty) = match name {
            "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" => {
                arity(0, 0)?;
                match name {
                    "row_number" => (WinFunc::RowNumber, DataType::Int8),
                    "rank" => (WinFunc::Rank, DataType::Int8),
                    "dense_rank" => (WinFunc::DenseRank, DataType::Int8),
                    "percent_rank" => (WinFunc::PercentRank, DataType::Float8),
                    _ => (WinFunc::CumeDist, DataType::Float8),
                }
            }
            "ntile" => {
                arity(1, 1)?;
                (WinFunc::Ntile, DataType::Int4)
            }
            "lag" | "lead" => {
                arity(1, 3)?;
                // The default takes the value's type (an untyped one is read as it).
                let ty = match (&first, types.get(2)) {
                    (DataType::Unknown, Some(t)) => t.clone(),
                    _ => first.clone(),
                };
                if let (Some(d), Some(DataType::Unknown)) = (bound.get_mut(2), types.get(2)) {
                    *d = Expr::Cast(Box::new(d.clone()), ty.clone());
                }
                let func = if name == "lag" {
                    WinFunc::Lag
                } else {
                    WinFunc::Lead
                };
                (func, ty)
            }
            "first_value" | "last_value" => {
                arity(1, 1)?;
                let func = if name == "first_value" {
                    WinFunc::FirstValue
                } else {
                    WinFunc::LastValue
                };
                (func, first.clone())
            }
            "nth_value" => {
                arity(2, 2)?;
                (WinFunc::NthValue, first.clone())
            }
            _ => match agg_kind(name, star) {
                Some(kind) => self.window_aggregate(kind, name, &mut bound, &first, f)?,
                None => {
                    return Err(Error::new(
                        code::WRONG_OBJECT_TYPE,
                        format!("OVER specified, but {name} is not a window function nor an aggregate function"),
                    ))
                }
            },
        };
        let mut partition = Vec::with_capacity(spec.partition_by.len());
        for p in &spec.partition_by {
            partition.push(self.bind(p)?.0);
        }
        let mut order = Vec::with_capacity(spec.order_by.len());
        for o in &spec.order_by {
            let (desc, nulls_first) = super::sort_options(o);
            order.push((self.bind(&o.expr)?.0, desc, nulls_first));
        }
        let frame = self.frame(spec.window_frame.as_ref())?;
        let nested = bound
            .iter()
            .chain(&partition)
            .chain(order.iter().map(|(k, _, _)| k));
        if nested.into_iter().any(reads_window)
            || matches!(&func, WinFunc::Agg(a) if a.arg.as_ref().is_some_and(reads_window))
        {
            return Err(Error::new(
                code::WINDOWING_ERROR,
                "window function calls cannot be nested",
            ));
        }
        let call = WindowCall {
            func,
            args: bound,
            partition,
            order,
            frame,
        };
        let slot = self
            .env
            .as_deref_mut()
            .and_then(|env| env.add_window(call))
            .ok_or_else(|| {
                Error::new(
                    code::WINDOWING_ERROR,
                    "window functions are not allowed here",
                )
            })?;
        Ok((Expr::Column(WINDOW_SLOT + slot), ty))
    }

    /// An aggregate over a window: its argument is already bound (`bound`).
    fn window_aggregate(
        &mut self,
        kind: AggKind,
        name: &str,
        bound: &mut Vec<Expr>,
        first: &DataType,
        f: &ast::Function,
    ) -> Result<(WinFunc, DataType)> {
        let arg = match kind {
            AggKind::CountStar => None,
            AggKind::StringAgg
            | AggKind::JsonObjectAgg
            | AggKind::JsonbObjectAgg
            | AggKind::Grouping => {
                return Err(unsupported(&format!(
                    "{name} over a window is not supported"
                )))
            }
            k if k.ordered_set() => {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("OVER is not supported for ordered-set aggregate {name}"),
                ))
            }
            _ if bound.len() == 1 => bound.pop(),
            _ => {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!(
                        "function {name} with {} arguments does not exist",
                        bound.len()
                    ),
                ))
            }
        };
        let filter = match f.filter.as_deref() {
            Some(c) => Some(self.bind_condition(c, "FILTER")?),
            None => None,
        };
        let ty = agg_type(kind, first)?;
        let call = AggCall {
            kind,
            arg,
            distinct: false,
            filter,
            ty: ty.clone(),
            order: Vec::new(),
        };
        Ok((WinFunc::Agg(call), ty))
    }

    /// The frame PostgreSQL uses for `frame` (none: RANGE UNBOUNDED PRECEDING to CURRENT ROW).
    fn frame(&mut self, frame: Option<&ast::WindowFrame>) -> Result<Frame> {
        let Some(frame) = frame else {
            return Ok(Frame {
                rows: false,
                start: Bound::UnboundedPreceding,
                end: Bound::CurrentRow,
            });
        };
        let rows = match frame.units {
            ast::WindowFrameUnits::Rows => true,
            ast::WindowFrameUnits::Range => false,
            ast::WindowFrameUnits::Groups => {
                return Err(unsupported("GROUPS frames are not supported"))
            }
        };
        let mut bound = |b: &ast::WindowFrameBound| -> Result<Bound> {
            Ok(match b {
                ast::WindowFrameBound::CurrentRow => Bound::CurrentRow,
                ast::WindowFrameBound::Preceding(None) => Bound::UnboundedPreceding,
                ast::WindowFrameBound::Following(None) => Bound::UnboundedFollowing,
                ast::WindowFrameBound::Preceding(Some(n))
                | ast::WindowFrameBound::Following(Some(n)) => {
                    if !rows {
                        return Err(unsupported("RANGE frames with an offset are not supported"));
                    }
                    let n = self.bind(n)?.0;
                    match b {
                        ast::WindowFrameBound::Preceding(_) => Bound::Preceding(n),
                        _ => Bound::Following(n),
                    }
                }
            })
        };
        let start = bound(&frame.start_bound)?;
        let end = match &frame.end_bound {
            Some(e) => bound(e)?,
            None => Bound::CurrentRow,
        };
        if matches!(start, Bound::UnboundedFollowing) {
            return Err(Error::new(
                code::WINDOWING_ERROR,
                "frame start cannot be UNBOUNDED FOLLOWING",
            ));
        }
        if matches!(end, Bound::UnboundedPreceding) {
            return Err(Error::new(
                code::WINDOWING_ERROR,
                "frame end cannot be UNBOUNDED PRECEDING",
            ));
        }
        Ok(Frame { rows, start, end })
    }
}

/// Moves the references to window slots `0..count` in `e` to columns `base..base + count`.
pub fn place_windows(e: &mut Expr, count: usize, base: usize) {
    if let Expr::Column(i) = e {
        if (WINDOW_SLOT..WINDOW_SLOT + count).contains(i) {
            *i = base + (*i - WINDOW_SLOT);
        }
    }
    for c in e.children_mut() {
        place_windows(c, count, base);
    }
}

/// Whether `e` reads a window function's value (window calls cannot be nested).
fn reads_window(e: &Expr) -> bool {
    matches!(e, Expr::Column(i) if (WINDOW_SLOT..usize::MAX / 2).contains(i))
        || e.children().into_iter().any(reads_window)
}
