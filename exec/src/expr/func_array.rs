//! Arrays, int2vectors and records: `ARRAY[...]` and `ROW(...)`, subscripts (`a[i]`,
//! 1-based; `v[i]` of an int2vector or oidvector, 0-based as in PostgreSQL), slices, and
//! `(record).field`. Constructors keep NULL arguments; subscripts and slices of NULL (or with
//! a NULL subscript) are NULL.

use super::func::Func;
use crate::error::Result;
use crate::types::{DataType, Value};

/// Evaluates `f` if it is one of this module's functions.
pub(super) fn call(f: &Func, args: &[Value]) -> Option<Result<Value>> {
    Some(match f {
        Func::MakeRecord => Ok(Value::Record(args.to_vec())),
        Func::RecordField(i) => Ok(match args.first() {
            Some(Value::Record(fields)) => fields.get(*i).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }),
        Func::MakeArray(ty) => {
            let elem = ty.element().cloned().unwrap_or(DataType::Text);
            args.iter()
                .map(|a| a.clone().cast(&elem))
                .collect::<Result<Vec<_>>>()
                .map(|items| Value::Array(Box::new(elem), items))
        }
        Func::VectorElement(_) | Func::ArrayElement | Func::ArraySlice
            if args.iter().any(Value::is_null) =>
        {
            Ok(Value::Null)
        }
        Func::VectorElement(ty) => vector_element(ty, args),
        Func::ArrayElement => array_element(args),
        Func::ArraySlice => array_slice(args),
        _ => return None,
    })
}

/// `v[i]` of an int2vector / oidvector (its text form, "1 2"; indexed from 0).
fn vector_element(ty: &DataType, args: &[Value]) -> Result<Value> {
    let (Some(Value::Text(items)), Some(i)) = (args.first(), args.get(1)) else {
        return Ok(Value::Null);
    };
    match i.as_i64()?.and_then(|i| usize::try_from(i).ok()) {
        Some(i) => match items.split_ascii_whitespace().nth(i) {
            Some(item) => Value::parse_text(ty, item),
            None => Ok(Value::Null),
        },
        None => Ok(Value::Null),
    }
}

/// `a[i]`: NULL outside the array.
fn array_element(args: &[Value]) -> Result<Value> {
    let (Some(Value::Array(_, items)), Some(i)) = (args.first(), args.get(1)) else {
        return Ok(Value::Null);
    };
    Ok(match i.as_i64()? {
        Some(i) if i >= 1 => items.get((i - 1) as usize).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    })
}

/// `a[lo:hi]`: the bounds clamped to the array's.
fn array_slice(args: &[Value]) -> Result<Value> {
    let Some(Value::Array(ty, items)) = args.first() else {
        return Ok(Value::Null);
    };
    let bound = |k: usize, default: i64| -> Result<i64> {
        match args.get(k) {
            Some(Value::Null) | None => Ok(default),
            Some(v) => Ok(v.as_i64()?.unwrap_or(default)),
        }
    };
    let lo = bound(1, 1)?.max(1);
    let hi = bound(2, items.len() as i64)?.min(items.len() as i64);
    let slice = if lo > hi {
        Vec::new()
    } else {
        items
            .get((lo - 1) as usize..hi as usize)
            .map(<[Value]>::to_vec)
            .unwrap_or_default()
    };
    Ok(Value::Array(ty.clone(), slice))
}
