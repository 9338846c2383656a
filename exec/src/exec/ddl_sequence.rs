//! CREATE SEQUENCE and identity-column sequence options, with PostgreSQL's defaults and
//! checks: `AS type`, `INCREMENT [BY]`, `MINVALUE` / `NO MINVALUE`, `MAXVALUE` / `NO
//! MAXVALUE`, `START [WITH]`, `CACHE`, `[NO] CYCLE` and `OWNED BY table.column | NONE`.
//!
//! Defaults follow the sign of the increment: ascending sequences run from 1 to the type's
//! maximum, descending ones from -1 down to the type's minimum, and start at the end they
//! count away from.

use sqlparser::ast;

use super::{Ctx, Outcome};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;
use crate::sequence::SequenceDef;
use crate::types::DataType;

fn invalid(message: String) -> Error {
    Error::new(code::INVALID_PARAMETER_VALUE, message)
}

/// An option's value: an integer literal, possibly signed.
fn integer(e: &ast::Expr, option: &str) -> Result<i64> {
    let bad = || invalid(format!("invalid value for sequence option {option}: {e}"));
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse().map_err(|_| bad()),
            _ => Err(bad()),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => integer(expr, option)?.checked_neg().ok_or_else(bad),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Plus,
            expr,
        } => integer(expr, option),
        ast::Expr::Nested(e) => integer(e, option),
        _ => Err(bad()),
    }
}

/// The value range of a sequence type.
fn type_range(ty: &DataType) -> Result<(i64, i64, &'static str)> {
    match ty {
        DataType::Int2 => Ok((i64::from(i16::MIN), i64::from(i16::MAX), "smallint")),
        DataType::Int4 => Ok((i64::from(i32::MIN), i64::from(i32::MAX), "integer")),
        DataType::Int8 => Ok((i64::MIN, i64::MAX, "bigint")),
        _ => Err(invalid(
            "sequence type must be smallint, integer, or bigint".into(),
        )),
    }
}

/// The definition `options` give a sequence of type `ty` (bigint unless `AS` names one).
pub(crate) fn sequence_def(
    options: &[ast::SequenceOptions],
    ty: &DataType,
    oid: u32,
) -> Result<SequenceDef> {
    let mut ty = ty.clone();
    let (mut increment, mut min, mut max, mut start) = (1, None, None, None);
    let mut cycle = false;
    for o in options {
        match o {
            ast::SequenceOptions::DataType(t) => ty = DataType::from_sql(t)?,
            ast::SequenceOptions::IncrementBy(e, _) => increment = integer(e, "INCREMENT")?,
            ast::SequenceOptions::MinValue(e) => {
                min = e.as_ref().map(|e| integer(e, "MINVALUE")).transpose()?
            }
            ast::SequenceOptions::MaxValue(e) => {
                max = e.as_ref().map(|e| integer(e, "MAXVALUE")).transpose()?
            }
            ast::SequenceOptions::StartWith(e, _) => start = Some(integer(e, "START")?),
            ast::SequenceOptions::Cache(e) => {
                let cache = integer(e, "CACHE")?;
                if cache < 1 {
                    return Err(invalid(format!(
                        "CACHE ({cache}) must be greater than zero"
                    )));
                }
            }
            ast::SequenceOptions::Cycle(no) => cycle = !no,
            // Applied by the caller (CREATE SEQUENCE only).
            ast::SequenceOptions::OwnedBy(_) => {}
        }
    }
    let (type_min, type_max, type_name) = type_range(&ty)?;
    if increment == 0 {
        return Err(invalid("INCREMENT must not be zero".into()));
    }
    let max = max.unwrap_or(if increment > 0 { type_max } else { -1 });
    let min = min.unwrap_or(if increment > 0 { 1 } else { type_min });
    if max < type_min || max > type_max {
        return Err(invalid(format!(
            "MAXVALUE ({max}) is out of range for sequence data type {type_name}"
        )));
    }
    if min < type_min || min > type_max {
        return Err(invalid(format!(
            "MINVALUE ({min}) is out of range for sequence data type {type_name}"
        )));
    }
    if min >= max {
        return Err(invalid(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    let start = start.unwrap_or(if increment > 0 { min } else { max });
    if start < min {
        return Err(invalid(format!(
            "START value ({start}) cannot be less than MINVALUE ({min})"
        )));
    }
    if start > max {
        return Err(invalid(format!(
            "START value ({start}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    let mut def = SequenceDef::new(max, oid);
    def.increment = increment;
    def.min = min;
    def.start = start;
    def.cycle = cycle;
    Ok(def)
}

/// CREATE SEQUENCE.
pub(super) fn create_sequence(
    ctx: &mut Ctx<'_>,
    name: &ast::ObjectName,
    if_not_exists: bool,
    options: &[ast::SequenceOptions],
) -> Result<Outcome> {
    let (schema, n) = ctx.qualify_new(name)?;
    let full = ctx.sequence_name(&schema, &n);
    if ctx.engine.sequences.exists(&full)? {
        if if_not_exists {
            return Ok(Outcome::Command("CREATE SEQUENCE".into()));
        }
        return Err(Error::new(
            code::DUPLICATE_TABLE,
            format!("relation \"{n}\" already exists"),
        ));
    }
    let def = sequence_def(options, &DataType::Int8, 0)?;
    let owner = options.iter().find_map(|o| match o {
        ast::SequenceOptions::OwnedBy(Some(owner)) => Some(owner),
        _ => None,
    });
    let owner = owner.map(|o| owning_column(ctx, o, &schema)).transpose()?;
    let oid = ctx.engine.next_oid(&mut ctx.waits)?;
    let def = SequenceDef { oid, ..def };
    ctx.engine.sequences.create(&full, def, &mut ctx.waits)?;
    if let Some((mut table, column)) = owner {
        if let Some(c) = table.columns.get_mut(column) {
            c.sequence = Some(full);
            // Owning is not feeding: the column's default stays what it was.
            c.default_replaced = !c.identity;
        }
        ctx.catalog().put_table(&table)?;
    }
    Ok(Outcome::Command("CREATE SEQUENCE".into()))
}

/// The table and column index `OWNED BY table.column` names (in the sequence's schema).
fn owning_column(
    ctx: &mut Ctx<'_>,
    owner: &ast::ObjectName,
    schema: &str,
) -> Result<(crate::catalog::TableDef, usize)> {
    let parts = &owner.0;
    let Some((column, table)) = parts.split_last() else {
        return Err(Error::syntax("invalid OWNED BY option"));
    };
    if table.is_empty() {
        return Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            "invalid OWNED BY option (specify OWNED BY table.column or OWNED BY NONE)",
        ));
    }
    let column = column
        .as_ident()
        .map(ident_name)
        .ok_or_else(|| Error::syntax("invalid OWNED BY option"))?;
    let table_name = ast::ObjectName(table.to_vec());
    let table = ctx.resolve_table(&table_name)?;
    if table.schema != schema {
        return Err(Error::new(
            code::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "sequence must be in same schema as table it is linked to",
        ));
    }
    let Some(i) = table.columns.iter().position(|c| c.name == column) else {
        return Err(Error::new(
            code::UNDEFINED_COLUMN,
            format!(
                "column \"{column}\" of relation \"{}\" does not exist",
                table.name
            ),
        ));
    };
    Ok((table, i))
}
