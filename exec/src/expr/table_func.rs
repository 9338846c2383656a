//! Set-returning functions usable in FROM (`generate_series(0, 3) s`, `unnest(arr)`,
//! `pg_partition_ancestors(rel)`, `information_schema._pg_expandarray(arr)`): their result
//! columns from the argument types (for the binder) and their rows from the argument values
//! (for the runner). Orbit has no partitioning, so a relation's only "ancestor" is itself, as
//! PostgreSQL answers for an unpartitioned table.

use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

/// The prefix a composite set-returning function's name gets when it is lifted out of a
/// select list (`exec::query::srf`): the call then yields one record column, its row, as the
/// call does in a select list.
pub const AS_RECORD: &str = "?record?";

/// The result columns of `name(args)` in FROM (a one-column function's column is named after
/// the function; an alias renames it), or None when `name` is no set-returning function.
pub fn table_function_columns(name: &str, args: &[DataType]) -> Option<Vec<(String, DataType)>> {
    if let Some(real) = name.strip_prefix(AS_RECORD) {
        let fields = table_function_columns(real, args)?;
        return Some(vec![(real.to_string(), DataType::Record(fields))]);
    }
    let ty = match (name, args) {
        // information_schema._pg_expandarray(anyarray): each element with its position (JDBC
        // reads index keys with it); an int2vector (pg_index.indkey) counts as an array.
        ("_pg_expandarray", [t]) => {
            let elem = match t {
                DataType::Array(e) => (**e).clone(),
                DataType::Int2Vector => DataType::Int2,
                _ => return None,
            };
            return Some(vec![("x".into(), elem), ("n".into(), DataType::Int4)]);
        }
        ("generate_series", [a, b, DataType::Interval]) if temporal(a) || temporal(b) => {
            series_type(a, b)
        }
        ("generate_series", [a, b] | [a, b, _]) => {
            let int8 = |t: &DataType| matches!(t, DataType::Int8);
            if int8(a) || int8(b) {
                DataType::Int8
            } else {
                DataType::Int4
            }
        }
        ("unnest", [DataType::Array(e)]) => (**e).clone(),
        ("unnest", [DataType::Unknown]) => DataType::Text,
        // unnest(a, b, ...) in FROM: the arrays side by side, one column each.
        ("unnest", [_, _, ..]) => {
            return args
                .iter()
                .map(|t| match t {
                    DataType::Array(e) => Some(("unnest".to_string(), (**e).clone())),
                    _ => None,
                })
                .collect();
        }
        ("pg_partition_ancestors", [_]) => {
            return Some(vec![("relid".into(), DataType::RegClass)]);
        }
        _ => {
            return super::table_func_json::columns(name, args)
                .or_else(|| super::func_regex::table_columns(name, args))
        }
    };
    Some(vec![(name.to_string(), ty)])
}

/// The rows of `name(args)` (see [`table_function_columns`]); at most `LIMIT` of them.
pub fn table_function_rows(name: &str, args: &[Value]) -> Result<Vec<Vec<Value>>> {
    const LIMIT: i64 = 10_000_000;
    if let ("unnest", [_, _, ..]) = (name, args) {
        return Ok(zip_arrays(args));
    }
    if args.iter().any(Value::is_null) {
        return Ok(Vec::new());
    }
    if let Some(real) = name.strip_prefix(AS_RECORD) {
        let rows = table_function_rows(real, args)?;
        return Ok(rows.into_iter().map(|r| vec![Value::Record(r)]).collect());
    }
    if let Some(rows) = super::table_func_json::rows(name, args) {
        return rows;
    }
    if let Some(rows) = super::func_regex::table_rows(name, args) {
        return rows;
    }
    match name {
        "_pg_expandarray" => {
            let items = match args.first() {
                Some(Value::Array(_, items)) => items.clone(),
                // An int2vector, in its text form ("1 2").
                Some(Value::Text(vector)) => vector
                    .split_ascii_whitespace()
                    .map(|s| Value::parse_text(&DataType::Int2, s))
                    .collect::<Result<Vec<_>>>()?,
                _ => Vec::new(),
            };
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, v)| vec![v, Value::Int4(i as i32 + 1)])
                .collect())
        }
        "generate_series" if matches!(args.get(2), Some(Value::Interval(_))) => {
            temporal_series(args, LIMIT)
        }
        "generate_series" => {
            let int = |i: usize| -> Result<i64> {
                match args.get(i) {
                    Some(v) => Ok(v.as_i64()?.unwrap_or(0)),
                    None => Ok(1),
                }
            };
            let (start, stop, step) = (int(0)?, int(1)?, int(2)?);
            if step == 0 {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    "step size cannot equal zero",
                ));
            }
            let int8 = args.iter().take(2).any(|v| matches!(v, Value::Int8(_)));
            let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
                0
            } else {
                (stop.abs_diff(start) / step.unsigned_abs()).saturating_add(1)
            };
            if count > LIMIT as u64 {
                return Err(Error::new(
                    code::PROGRAM_LIMIT_EXCEEDED,
                    "generate_series would return too many rows",
                ));
            }
            Ok((0..count as i64)
                .map(|k| {
                    let v = start + k * step;
                    vec![if int8 {
                        Value::Int8(v)
                    } else {
                        Value::Int4(v as i32)
                    }]
                })
                .collect())
        }
        "unnest" => match args.first() {
            Some(Value::Array(_, items)) => Ok(items.iter().map(|v| vec![v.clone()]).collect()),
            _ => Ok(Vec::new()),
        },
        "pg_partition_ancestors" => Ok(vec![vec![match args.first() {
            Some(Value::Oid(o)) => Value::Oid(*o),
            Some(other) => Value::Oid(other.as_i64()?.unwrap_or(0) as u32),
            None => Value::Null,
        }]]),
        other => Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!("function {other} does not exist"),
        )),
    }
}

/// `unnest(a, b, ...)`: row i holds element i of each array, NULL where an array (a NULL one
/// counts as empty) has fewer; as many rows as the longest has elements (all of them, for a
/// multidimensional one).
fn zip_arrays(args: &[Value]) -> Vec<Vec<Value>> {
    let lists: Vec<&[Value]> = args
        .iter()
        .map(|a| match a {
            Value::Array(_, items) => items.as_slice(),
            _ => &[],
        })
        .collect();
    let n = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect()
}

fn temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_) | DataType::Timestamptz(_) | DataType::Date
    )
}

/// `generate_series` over times: timestamp when both ends are, else (a date or a timestamptz
/// end) timestamp with time zone, as PostgreSQL resolves it.
fn series_type(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (DataType::Timestamp(_), DataType::Timestamp(_) | DataType::Unknown)
        | (DataType::Unknown, DataType::Timestamp(_)) => DataType::Timestamp(None),
        _ => DataType::Timestamptz(None),
    }
}

/// `generate_series(start, stop, step interval)`: start, start + step, ... while not past stop.
fn temporal_series(args: &[Value], limit: i64) -> Result<Vec<Vec<Value>>> {
    let (Some(a), Some(b), Some(Value::Interval(step))) = (args.first(), args.get(1), args.get(2))
    else {
        return Ok(Vec::new());
    };
    let ty = series_type(&a.data_type(), &b.data_type());
    let (mut cur, stop) = (a.clone().cast(&ty)?, b.clone().cast(&ty)?);
    let step_value = Value::Interval(*step);
    let next = |v: &Value| crate::types::temporal(crate::types::BinaryOp::Add, v, &step_value, &ty);
    let first = next(&cur)?;
    let ascending = match first.compare(&cur)? {
        Some(std::cmp::Ordering::Greater) => true,
        Some(std::cmp::Ordering::Less) => false,
        _ => {
            return Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                "step size cannot equal zero",
            ))
        }
    };
    let mut rows = Vec::new();
    loop {
        let past = match cur.compare(&stop)? {
            Some(std::cmp::Ordering::Greater) => ascending,
            Some(std::cmp::Ordering::Less) => !ascending,
            _ => false,
        };
        if past {
            return Ok(rows);
        }
        if rows.len() as i64 >= limit {
            return Err(Error::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                "generate_series would return too many rows",
            ));
        }
        let following = next(&cur)?;
        rows.push(vec![std::mem::replace(&mut cur, following)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(rows: Vec<Vec<Value>>) -> Vec<i64> {
        rows.iter()
            .map(|r| r[0].as_i64().ok().flatten().unwrap_or(-999))
            .collect()
    }

    #[test]
    fn generate_series_counts_like_postgres() {
        let s = |a: &[Value]| ints(table_function_rows("generate_series", a).unwrap_or_default());
        assert_eq!(s(&[Value::Int4(0), Value::Int4(3)]), [0, 1, 2, 3]);
        assert_eq!(s(&[Value::Int4(0), Value::Int4(-1)]), Vec::<i64>::new());
        assert_eq!(
            s(&[Value::Int4(5), Value::Int4(1), Value::Int4(-2)]),
            [5, 3, 1]
        );
        assert_eq!(s(&[Value::Int4(1), Value::Null]), Vec::<i64>::new());
        assert!(table_function_rows(
            "generate_series",
            &[Value::Int4(1), Value::Int4(2), Value::Int4(0)]
        )
        .is_err());
        assert_eq!(
            table_function_columns("generate_series", &[DataType::Int4, DataType::Int8]),
            Some(vec![("generate_series".into(), DataType::Int8)])
        );
    }

    #[test]
    fn unnest_and_partition_ancestors() {
        let arr = Value::Array(Box::new(DataType::Int2), vec![Value::Int2(3), Value::Null]);
        assert_eq!(
            table_function_rows("unnest", &[arr]).unwrap_or_default(),
            [vec![Value::Int2(3)], vec![Value::Null]]
        );
        assert_eq!(
            table_function_rows("pg_partition_ancestors", &[Value::Oid(16385)]).unwrap_or_default(),
            [vec![Value::Oid(16385)]]
        );
        assert_eq!(table_function_columns("nope", &[]), None);
    }
}
