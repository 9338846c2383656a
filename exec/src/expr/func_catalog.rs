//! The catalog functions clients call (psql's `\d` family, drivers' type lookups):
//! `format_type`, `pg_get_indexdef`, `pg_table_is_visible`, `current_schemas`, ..., a few array
//! and size helpers they use, and casts to and from the reg* types.
//!
//! Functions that read the catalog take it from `EvalContext::sys` (the statement's
//! [`SystemSnapshot`](crate::catalog::system::SystemSnapshot)); the planner loads one when
//! [`Func::needs_catalog`](super::Func::needs_catalog) says so. Without it they fail with an
//! internal error, never a panic.

use super::EvalContext;
use crate::catalog::system::{self, SystemSnapshot};
use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

/// A catalog or client-support function.
#[derive(Debug, Clone, PartialEq)]
pub enum SysFunc {
    FormatType,
    GetUserById,
    TableIsVisible,
    /// Functions answering true for any non-NULL input (`pg_type_is_visible`, privileges).
    True,
    /// Functions answering false (`pg_is_in_recovery`, `pg_relation_is_publishable`).
    False,
    /// Functions answering NULL (descriptions, partition keys, triggers, statistics objects).
    Null,
    /// Functions answering 0 (relation sizes: Orbit does not account storage per table).
    Zero,
    GetIndexDef,
    GetConstraintDef,
    GetExpr,
    GetViewDef,
    EncodingToChar,
    CharToEncoding,
    GetSerialSequence,
    CurrentSchemas,
    CurrentSetting,
    ArrayPosition,
    ArrayToString,
    ArrayUpper,
    ArrayLower,
    SizePretty,
    PostmasterStartTime,
    TxidCurrent,
    QuoteIdent,
    QuoteLiteral,
    QuoteNullable,
    /// `to_regclass(text)` and friends: the reg* type, NULL when nothing has the name.
    ToReg(DataType),
    /// `pg_typeof(x)`: the argument's type name, resolved while binding.
    TypeOf(String),
    /// `pg_partition_ancestors(rel)` in a select list: Orbit has no partitioning, so the one
    /// row PostgreSQL returns is the relation itself (in FROM it is a table function).
    PartitionAncestors,
}

fn undefined_function(name: &str, args: &[DataType]) -> Error {
    let shown: Vec<String> = args.iter().map(|t| t.to_string()).collect();
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!("function {name}({}) does not exist", shown.join(", ")),
    )
    .with_detail("No function matches the given name and argument types.")
}

/// Resolves `name(args)` when it is a catalog function.
pub fn resolve(name: &str, args: &[DataType]) -> Result<Option<(SysFunc, DataType)>> {
    use DataType as T;
    use SysFunc as F;
    let n = args.len();
    let r = match (name, n) {
        ("format_type", 2) => (F::FormatType, T::Text),
        ("pg_get_userbyid", 1) => (F::GetUserById, T::Name),
        ("pg_table_is_visible", 1) => (F::TableIsVisible, T::Bool),
        (
            "pg_type_is_visible"
            | "pg_function_is_visible"
            | "pg_collation_is_visible"
            | "pg_operator_is_visible"
            | "pg_opclass_is_visible"
            | "pg_opfamily_is_visible"
            | "pg_conversion_is_visible"
            | "pg_statistics_obj_is_visible"
            | "pg_ts_config_is_visible"
            | "pg_ts_dict_is_visible"
            | "pg_ts_parser_is_visible"
            | "pg_ts_template_is_visible",
            1,
        ) => (F::True, T::Bool),
        (
            "has_table_privilege"
            | "has_schema_privilege"
            | "has_database_privilege"
            | "has_sequence_privilege"
            | "has_function_privilege"
            | "has_any_column_privilege"
            | "has_tablespace_privilege"
            | "has_language_privilege"
            | "has_type_privilege",
            2 | 3,
        )
        | ("has_column_privilege", 3 | 4) => (F::True, T::Bool),
        ("pg_is_in_recovery", 0) | ("pg_relation_is_publishable", 1) => (F::False, T::Bool),
        ("pg_is_other_temp_schema", 1) => (F::False, T::Bool),
        ("obj_description", 1 | 2)
        | ("col_description", 2)
        | ("shobj_description", 2)
        | ("pg_get_partkeydef", 1)
        | ("pg_get_statisticsobjdef_columns", 1)
        | ("pg_get_triggerdef", 1 | 2)
        | ("pg_get_ruledef", 1 | 2)
        | ("pg_get_function_result", 1)
        | ("pg_get_function_arguments", 1)
        | ("pg_get_function_identity_arguments", 1)
        | ("pg_tablespace_location", 1) => (F::Null, T::Text),
        (
            "pg_relation_size" | "pg_table_size" | "pg_total_relation_size" | "pg_indexes_size",
            1 | 2,
        )
        | ("pg_database_size", 1) => (F::Zero, T::Int8),
        ("pg_my_temp_schema", 0) => (F::Zero, T::Oid),
        ("pg_get_indexdef", 1 | 3) => (F::GetIndexDef, T::Text),
        ("pg_get_constraintdef", 1 | 2) => (F::GetConstraintDef, T::Text),
        ("pg_get_expr", 2 | 3) => (F::GetExpr, T::Text),
        ("pg_get_viewdef", 1 | 2) => (F::GetViewDef, T::Text),
        ("pg_encoding_to_char", 1) => (F::EncodingToChar, T::Name),
        ("pg_char_to_encoding", 1) => (F::CharToEncoding, T::Int4),
        ("pg_get_serial_sequence", 2) => (F::GetSerialSequence, T::Text),
        ("current_schemas", 1) => (F::CurrentSchemas, T::Array(Box::new(T::Name))),
        ("current_setting", 1 | 2) => (F::CurrentSetting, T::Text),
        ("array_position", 2 | 3) => (F::ArrayPosition, T::Int4),
        ("array_to_string", 2 | 3) => (F::ArrayToString, T::Text),
        ("array_upper", 2) => (F::ArrayUpper, T::Int4),
        ("array_lower", 2) => (F::ArrayLower, T::Int4),
        ("pg_size_pretty", 1) => (F::SizePretty, T::Text),
        ("pg_postmaster_start_time", 0) => (F::PostmasterStartTime, T::Timestamptz(None)),
        ("txid_current", 0) => (F::TxidCurrent, T::Int8),
        ("quote_ident", 1) => (F::QuoteIdent, T::Text),
        ("quote_literal", 1) => (F::QuoteLiteral, T::Text),
        ("quote_nullable", 1) => (F::QuoteNullable, T::Text),
        ("to_regclass", 1) => (F::ToReg(T::RegClass), T::RegClass),
        ("to_regtype", 1) => (F::ToReg(T::RegType), T::RegType),
        ("to_regnamespace", 1) => (F::ToReg(T::RegNamespace), T::RegNamespace),
        ("to_regrole", 1) => (F::ToReg(T::RegRole), T::RegRole),
        ("to_regproc" | "to_regprocedure", 1) => (F::ToReg(T::RegProc), T::RegProc),
        ("pg_partition_ancestors", 1) => (F::PartitionAncestors, T::RegClass),
        ("pg_typeof", 1) => {
            let ty = args.first().cloned().unwrap_or(T::Unknown);
            (F::TypeOf(unmodified_name(&ty)), T::Text)
        }
        _ => return Ok(None),
    };
    if matches!(
        r.0,
        F::ArrayPosition | F::ArrayUpper | F::ArrayLower | F::ArrayToString
    ) && !matches!(args.first(), Some(T::Array(_) | T::Unknown))
    {
        return Err(undefined_function(name, args));
    }
    Ok(Some(r))
}

impl SysFunc {
    /// Whether evaluating it needs the statement's [`SystemSnapshot`].
    pub fn needs_catalog(&self) -> bool {
        matches!(
            self,
            SysFunc::TableIsVisible
                | SysFunc::GetIndexDef
                | SysFunc::GetConstraintDef
                | SysFunc::GetViewDef
                | SysFunc::GetSerialSequence
                | SysFunc::CurrentSchemas
                | SysFunc::CurrentSetting
        ) || matches!(self, SysFunc::ToReg(t) if needs_catalog_for(t))
    }
}

/// Whether resolving names of reg type `t` needs the catalog (user tables and schemas).
fn needs_catalog_for(t: &DataType) -> bool {
    matches!(t, DataType::RegClass | DataType::RegNamespace)
}

/// The statement's catalog: `EvalContext::sys`, else the runner's (loaded on first use).
fn snapshot<'a>(ctx: &EvalContext<'a>) -> Result<Option<&'a SystemSnapshot>> {
    if let Some(s) = ctx.sys {
        return Ok(Some(s));
    }
    match ctx.exec {
        Some(exec) => exec.catalog(),
        None => Ok(None),
    }
}

fn sys<'a>(ctx: &EvalContext<'a>) -> Result<&'a SystemSnapshot> {
    snapshot(ctx)?.ok_or_else(|| {
        Error::new(
            code::INTERNAL_ERROR,
            "catalog function evaluated without the catalog snapshot",
        )
    })
}

fn oid_arg(v: &Value) -> Result<Option<u32>> {
    Ok(match v {
        Value::Null => None,
        Value::Oid(o) => Some(*o),
        Value::Text(s) => Some(system::builtin_reg_oid(&DataType::Oid, s)?),
        other => other.as_i64()?.map(|i| i as u32),
    })
}

fn text_arg(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        other => other.to_text(),
    }
}

fn bool_arg(v: Option<&Value>) -> Result<bool> {
    Ok(match v {
        Some(v) => v.as_bool()?.unwrap_or(false),
        None => false,
    })
}

fn text_or_null(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::Text)
}

/// Evaluates `f` over already-evaluated arguments.
pub fn call(f: &SysFunc, args: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
    use SysFunc as F;
    let a0 = args.first().cloned().unwrap_or(Value::Null);
    let a1 = args.get(1).cloned().unwrap_or(Value::Null);
    // Functions that are not strict, or need no arguments.
    match f {
        F::FormatType => {
            let Some(o) = oid_arg(&a0)? else {
                return Ok(Value::Null);
            };
            let typmod = a1.as_i64()?.map(|m| m as i32);
            return Ok(Value::Text(system::format_type(o, typmod)));
        }
        F::Null => return Ok(Value::Null),
        F::Zero => {
            return Ok(match f {
                _ if args.iter().any(Value::is_null) => Value::Null,
                _ if args.is_empty() => Value::Oid(0),
                _ => Value::Int8(0),
            })
        }
        F::False => return Ok(Value::Bool(false)),
        // The argument's type, whatever its value (NULL too).
        F::TypeOf(name) => return Ok(Value::Text(name.clone())),
        F::QuoteNullable if a0.is_null() => return Ok(Value::Text("NULL".into())),
        F::PostmasterStartTime => return Ok(Value::Timestamptz(start_time(ctx.now))),
        F::TxidCurrent => return Ok(Value::Int8(ctx.now)),
        F::CurrentSchemas => {
            let implicit = bool_arg(args.first())?;
            let items = sys(ctx)?
                .current_schemas(implicit)
                .into_iter()
                .map(Value::Text)
                .collect();
            return Ok(Value::Array(Box::new(DataType::Name), items));
        }
        F::ArrayToString => {
            let (Value::Array(_, items), Some(sep)) = (&a0, text_arg(&a1)) else {
                return Ok(Value::Null);
            };
            let null_as = args.get(2).and_then(text_arg);
            let parts: Vec<String> = items
                .iter()
                .filter_map(|v| match v {
                    Value::Null => null_as.clone(),
                    other => text_arg(other),
                })
                .collect();
            return Ok(Value::Text(parts.join(&sep)));
        }
        F::ArrayPosition => {
            let Value::Array(_, items) = &a0 else {
                return Ok(Value::Null);
            };
            let from = match args.get(2) {
                None => 0,
                Some(Value::Null) => {
                    return Err(Error::new(
                        code::NULL_VALUE_NOT_ALLOWED,
                        "initial position must not be null",
                    ))
                }
                Some(s) => usize::try_from(s.as_i64()?.unwrap_or(1) - 1).unwrap_or(0),
            };
            for (i, v) in items.iter().enumerate().skip(from) {
                let same = match (v.is_null(), a1.is_null()) {
                    (true, true) => true,
                    (false, false) => v.compare(&a1)? == Some(std::cmp::Ordering::Equal),
                    _ => false,
                };
                if same {
                    return Ok(Value::Int4(i as i32 + 1));
                }
            }
            return Ok(Value::Null);
        }
        F::CurrentSetting => {
            let Some(name) = text_arg(&a0) else {
                return Ok(Value::Null);
            };
            return match sys(ctx)?.setting(&name) {
                Some(v) => Ok(Value::Text(v.to_string())),
                None if bool_arg(args.get(1))? => Ok(Value::Null),
                None => Err(Error::new(
                    code::UNDEFINED_OBJECT,
                    format!("unrecognized configuration parameter \"{name}\""),
                )),
            };
        }
        _ => {}
    }
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    Ok(match f {
        F::GetUserById => Value::Text(match oid_arg(&a0)? {
            Some(system::SUPERUSER_OID) => "postgres".into(),
            Some(system::DATABASE_OWNER_OID) => "pg_database_owner".into(),
            Some(o) => format!("unknown (OID={o})"),
            None => return Ok(Value::Null),
        }),
        F::TableIsVisible => match oid_arg(&a0)? {
            Some(o) => Value::Bool(sys(ctx)?.table_is_visible(o)),
            None => Value::Null,
        },
        F::True => Value::Bool(true),
        F::GetIndexDef => {
            let o = oid_arg(&a0)?.unwrap_or(0);
            let col = a1.as_i64()?.unwrap_or(0) as i32;
            text_or_null(sys(ctx)?.index_def(o, col))
        }
        F::GetConstraintDef => {
            let o = oid_arg(&a0)?.unwrap_or(0);
            text_or_null(sys(ctx)?.constraint_def(o, bool_arg(args.get(1))?))
        }
        F::GetExpr => a0,
        F::GetViewDef => match &a0 {
            Value::Text(name) if name.parse::<u32>().is_err() => {
                text_or_null(sys(ctx)?.view_def_by_name(name)?)
            }
            other => text_or_null(sys(ctx)?.view_def(oid_arg(other)?.unwrap_or(0))),
        },
        F::EncodingToChar => Value::Text(
            match a0.as_i64()? {
                Some(6) => "UTF8",
                Some(0) => "SQL_ASCII",
                _ => "",
            }
            .into(),
        ),
        F::CharToEncoding => {
            let name = text_arg(&a0).unwrap_or_default().to_uppercase();
            Value::Int4(match name.replace(['-', '_'], "").as_str() {
                "UTF8" | "UNICODE" => 6,
                "SQLASCII" => 0,
                _ => -1,
            })
        }
        F::GetSerialSequence => {
            let table = text_arg(&a0).unwrap_or_default();
            let column = text_arg(&a1).unwrap_or_default();
            text_or_null(sys(ctx)?.serial_sequence(&table, &column)?)
        }
        F::ArrayUpper | F::ArrayLower => match (&a0, a1.as_i64()?) {
            (Value::Array(_, items), Some(1)) if !items.is_empty() => {
                Value::Int4(if *f == F::ArrayUpper {
                    items.len() as i32
                } else {
                    1
                })
            }
            _ => Value::Null,
        },
        F::SizePretty => {
            let n = match &a0 {
                Value::Numeric(n) => n.to_f64() as i64,
                other => other.as_i64()?.unwrap_or(0),
            };
            Value::Text(size_pretty(n))
        }
        F::QuoteIdent => Value::Text(system::quote_ident(&text_arg(&a0).unwrap_or_default())),
        F::QuoteLiteral | F::QuoteNullable => {
            Value::Text(quote_literal(&text_arg(&a0).unwrap_or_default()))
        }
        F::ToReg(ty) => {
            let name = text_arg(&a0).unwrap_or_default();
            let found = match (ty, snapshot(ctx)?) {
                (DataType::RegProc, _) => return Ok(Value::Null),
                (t, Some(s)) => s.reg_oid(t, &name),
                (t, None) if !needs_catalog_for(t) => system::builtin_reg_oid(t, &name),
                (_, None) => sys(ctx).map(|_| 0),
            };
            match found {
                Ok(o) => reg_value(ty, o, snapshot(ctx)?),
                Err(e) if e.sqlstate() == code::INTERNAL_ERROR => return Err(e),
                Err(_) => Value::Null,
            }
        }
        F::PartitionAncestors => oid_arg(&a0)?.map_or(Value::Null, Value::Oid),
        _ => {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                format!("{f:?} not evaluated"),
            ))
        }
    })
}

/// The server's start: the first time this process was asked (close enough for clients that
/// show uptime).
fn start_time(now: i64) -> i64 {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *START.get_or_init(|| now)
}

fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// `pg_size_pretty(bigint)`: bytes below 10 kB, then kB, MB, GB, TB, PB, rounding halves away
/// from zero as PostgreSQL 15 does.
pub fn size_pretty(size: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    if size.abs() < LIMIT {
        return format!("{size} bytes");
    }
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    // One extra bit of precision for rounding.
    let mut v = size >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if v.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(v));
        }
        v >>= 10;
    }
    format!("{} PB", half_rounded(v))
}

/// A reg* value of type `ty` for `oid`, named when the catalog (or, for types, the static
/// type list) can name it.
fn reg_value(ty: &DataType, oid: u32, sys: Option<&SystemSnapshot>) -> Value {
    match (sys, ty) {
        (Some(s), _) => Value::reg(ty.clone(), oid, s.reg_text(ty, oid)),
        (None, DataType::RegType) if DataType::from_oid(oid).is_some() => {
            Value::reg(ty.clone(), oid, system::format_type(oid, None))
        }
        (None, DataType::RegRole) => match system::builtin_role_name(oid) {
            Some(name) => Value::reg(ty.clone(), oid, name.to_string()),
            None => Value::Oid(oid),
        },
        _ => Value::Oid(oid),
    }
}

/// A cast to a reg* type: names (`'t'::regclass`) resolve through the search path and oids
/// (`c.oid::regclass`) get the name they print as, with the catalog at hand (loaded for
/// regclass and regnamespace only). Everything else is `Value::cast`.
pub fn cast(v: Value, to: &DataType, ctx: &EvalContext<'_>) -> Result<Value> {
    if !to.is_reg_oid() || v.is_null() {
        return v.cast(to);
    }
    let sys = if needs_catalog_for(to) {
        snapshot(ctx)?
    } else {
        ctx.sys
    };
    let oid = match (&v, sys) {
        (Value::Text(name), Some(s)) => s.reg_oid(to, name)?,
        _ => match v.cast(to)? {
            Value::Oid(o) => o,
            Value::Reg(r) => r.oid,
            other => return Ok(other),
        },
    };
    Ok(reg_value(to, oid, sys))
}

/// Whether evaluating a cast to `to` needs the catalog.
pub fn cast_needs_catalog(to: &DataType) -> bool {
    needs_catalog_for(to)
}

/// A type's name without its modifier, as regtype prints it (`character varying`,
/// `character[]`): what `pg_typeof` answers.
fn unmodified_name(ty: &DataType) -> String {
    match ty {
        DataType::Char(_) => "character".into(),
        DataType::Array(elem) => format!("{}[]", unmodified_name(elem)),
        other => other.clone().with_typmod(-1).display(),
    }
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn size_pretty_matches_postgres() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(8192), "8192 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(10_485_760), "10 MB");
        assert_eq!(size_pretty(123_456_789_012), "115 GB");
        assert_eq!(size_pretty(-10240), "-10 kB");
    }
}
