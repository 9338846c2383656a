//! Bound expressions: what an SQL expression means once its names are resolved against the
//! columns in scope, its parameters numbered and typed, and its aggregates pulled out.
//!
//! `bind` turns sqlparser's AST into an [`Expr`] and its [`DataType`]; `eval` computes an
//! `Expr` over one input row. Binding happens once per statement execution, evaluation once
//! per row, so everything name- or type-related is decided here and never per row.
//! `func` holds the scalar functions, `func_catalog` the catalog and client-support ones
//! (`format_type`, `pg_get_indexdef`, ..., which read `EvalContext::sys`) and the reg* casts,
//! `table_func` the set-returning functions FROM may call.
//!
//! Invariant: `Expr::Column(i)` indexes the row the expression is evaluated on; after
//! aggregation that row is `group keys ++ aggregate results`, and `Expr::Column` refers to it.

mod aggregates;
mod bind;
mod bind_forms;
mod bind_outer;
mod bpchar;
mod date_part;
mod eval;
mod fold;
mod func;
mod func_array;
mod func_backend;
mod func_catalog;
mod func_json;
mod func_number_format;
mod func_regex;
mod func_support;
mod func_time;
mod func_time_make;
mod table_func_json;
pub(crate) use func_support::{json_text, to_json};
mod func_vector;
mod literal;
mod subquery;
mod table_func;
mod walk;
mod window;

pub use aggregates::contains_aggregate;
pub use bind::{ident as ident_name, unify as unify_types, BindEnv, Binder, Grouping, ScopeColumn};
pub use func::{Func, SeqOp};
pub use func_backend::{not_here as backend_not_here, BackendFunc};
pub use func_catalog::{size_pretty, SysFunc};
pub use subquery::{KeySet, SubKind, Subquery, SubqueryExec};
pub use table_func::{table_function_columns, table_function_rows, AS_RECORD};
pub use window::{place_windows, Bound, Frame, WinFunc, WindowCall, WINDOW_SLOT};

/// The table name of a column reference by position in the scope (`"?position?"."3"`):
/// what `*` expands to for a column whose name another of its table shares.
pub const BY_POSITION: &str = "?position?";

use crate::types::{BinaryOp, DataType, Value};

/// A bound scalar expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Value),
    /// The i-th value of the input row.
    Column(usize),
    /// The i-th parameter (`$i+1`).
    Param(usize),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    /// `IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// `IS [NOT] DISTINCT FROM`.
    IsDistinct(Box<Expr>, Box<Expr>, bool),
    /// `IS [NOT] TRUE/FALSE`: (expr, value tested, negated).
    IsBool(Box<Expr>, bool, bool),
    Cast(Box<Expr>, DataType),
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
        /// `ESCAPE e`: one character, or empty for none; absent: backslash.
        escape: Option<Box<Expr>>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Func(Func, Vec<Expr>),
    /// The i-th value an enclosing query passed in (a correlated reference: see
    /// [`Subquery::captures`]); constant while the subquery runs.
    Outer(usize),
    /// A subquery in an expression.
    Subquery(Box<Subquery>),
    /// `expr op ANY (array)` / `expr op ALL (array)`.
    Quantified {
        expr: Box<Expr>,
        op: BinaryOp,
        all: bool,
        array: Box<Expr>,
    },
}

/// An aggregate call found while binding a select list, HAVING or ORDER BY.
#[derive(Debug, Clone)]
pub struct AggCall {
    pub kind: AggKind,
    /// The argument (None for count(*)).
    pub arg: Option<Expr>,
    pub distinct: bool,
    pub filter: Option<Expr>,
    pub ty: DataType,
    /// `agg(x ORDER BY k [DESC] [NULLS FIRST|LAST], ...)`: (key, descending, nulls first).
    pub order: Vec<(Expr, bool, bool)>,
}

/// The aggregates the SQL core supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    StringAgg,
    ArrayAgg,
    /// `var_samp` (`variance`), `var_pop`, `stddev_samp` (`stddev`), `stddev_pop`.
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
    /// Ordered-set aggregates: `percentile_cont(f) WITHIN GROUP (ORDER BY x)`,
    /// `percentile_disc`, `mode()`.
    PercentileCont,
    PercentileDisc,
    Mode,
    /// `json_agg`, `jsonb_agg`, `json_object_agg(k, v)`, `jsonb_object_agg(k, v)`.
    JsonAgg,
    JsonbAgg,
    JsonObjectAgg,
    JsonbObjectAgg,
    /// `GROUPING(k, ...)`: which of the keys the row's grouping set leaves out (its argument
    /// is a literal array of key positions; see `exec::agg::AggPlan::for_set`).
    Grouping,
}

impl AggKind {
    /// An ordered-set aggregate (its input comes in `WITHIN GROUP (ORDER BY ...)`).
    pub fn ordered_set(self) -> bool {
        matches!(
            self,
            AggKind::PercentileCont | AggKind::PercentileDisc | AggKind::Mode
        )
    }

    /// Its argument is a pair (`AggDelimiter`): string_agg's delimiter, a percentile's
    /// fraction, an object's value after its key.
    pub fn paired(self) -> bool {
        matches!(
            self,
            AggKind::StringAgg
                | AggKind::PercentileCont
                | AggKind::PercentileDisc
                | AggKind::JsonObjectAgg
                | AggKind::JsonbObjectAgg
        )
    }
}

/// Session values functions read (current_user, current_schema, now()), the values an
/// enclosing query passed in, and the runner subqueries execute through.
#[derive(Clone)]
pub struct EvalContext<'a> {
    pub params: &'a [Value],
    pub user: &'a str,
    pub database: &'a str,
    pub schema: &'a str,
    /// Transaction start time (now(), current_timestamp), microseconds since 2000-01-01 UTC.
    pub now: i64,
    /// The statement's start (statement_timestamp()).
    pub statement_now: i64,
    /// The session's pid (pg_backend_pid()).
    pub pid: i32,
    /// The catalog as the system relations show it, for the functions and casts that read it
    /// (`Func::needs_catalog`, `Expr::needs_catalog`); None when the statement needs none.
    pub sys: Option<&'a crate::catalog::system::SystemSnapshot>,
    /// The values `Expr::Outer` reads.
    pub outer: &'a [Value],
    /// Runs subqueries; None where no subquery can appear (e.g. DEFAULT expressions).
    pub exec: Option<&'a dyn SubqueryExec>,
}

impl EvalContext<'static> {
    /// A context for computing constants while planning: no parameters, outer values,
    /// catalog or subqueries; `now` is the epoch (callers fold nothing that reads it).
    pub fn constant() -> EvalContext<'static> {
        EvalContext {
            params: &[],
            user: "",
            database: "",
            schema: "",
            now: 0,
            statement_now: 0,
            pid: 0,
            sys: None,
            outer: &[],
            exec: None,
        }
    }
}

impl<'a> EvalContext<'a> {
    /// This context with `outer` as the enclosing query's values.
    pub fn with_outer<'b>(&self, outer: &'b [Value]) -> EvalContext<'b>
    where
        'a: 'b,
    {
        EvalContext {
            outer,
            ..self.clone()
        }
    }
}

/// (descending, nulls first) of an ORDER BY item; NULLs sort as if larger than any value.
pub fn sort_options(o: &sqlparser::ast::OrderByExpr) -> (bool, bool) {
    let desc = matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
    (desc, o.options.nulls_first.unwrap_or(desc))
}

/// Compares two rows of sort-key values under `order`'s (key, descending, nulls first) specs:
/// the ORDER BY of a query and of an aggregate's input.
pub fn cmp_ordered(a: &[Value], b: &[Value], order: &[(Expr, bool, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for ((x, y), (_, desc, nulls_first)) in a.iter().zip(b).zip(order) {
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if *nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if *nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if *desc => y.sort_cmp(x),
            _ => x.sort_cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}
