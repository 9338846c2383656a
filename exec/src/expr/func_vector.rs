//! pgvector's functions: `l2_distance`, `inner_product`, `cosine_distance`, `l1_distance`,
//! `vector_dims`, `vector_norm` / `l2_norm`, `l2_normalize`, `subvector`, `binary_quantize`,
//! `hamming_distance`, `jaccard_distance`, and the comparison helper `vector_cmp`. The
//! arithmetic itself is in `types::vector_ops`; this module resolves names and argument
//! types and evaluates calls. An untyped literal argument takes the vector type of the call.

use crate::error::{code, Error, Result};
use crate::types::vector_ops::{self as ops, Distance};
use crate::types::{DataType, Value};

/// A pgvector function; `ty` is the vector type its vector arguments have.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFunc {
    pub op: VectorOp,
    pub ty: DataType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Distance(Distance),
    Dims,
    Norm,
    Normalize,
    Subvector,
    BinaryQuantize,
    Hamming,
    Jaccard,
    Cmp,
}

fn vector_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Vector(_) | DataType::HalfVec(_) | DataType::SparseVec(_)
    )
}

fn bit_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Bit(_) | DataType::VarBit(_) | DataType::Unknown
    )
}

/// The unconstrained type of the call's vector arguments (an untyped literal takes the other
/// argument's; two untyped ones are vectors).
fn call_type(args: &[DataType]) -> Option<DataType> {
    let found = args.iter().find(|t| vector_type(t));
    match found {
        Some(DataType::HalfVec(_)) => Some(DataType::HalfVec(None)),
        Some(DataType::SparseVec(_)) => Some(DataType::SparseVec(None)),
        Some(_) => Some(DataType::Vector(None)),
        None if args.iter().all(|t| *t == DataType::Unknown) => Some(DataType::Vector(None)),
        None => None,
    }
}

/// Resolves `name(args)` if it is one of pgvector's functions over these types.
pub fn resolve(name: &str, args: &[DataType]) -> Option<(VectorFunc, DataType)> {
    use VectorOp as O;
    let (op, arity) = match name {
        "l2_distance" => (O::Distance(Distance::L2), 2),
        "inner_product" => (O::Distance(Distance::InnerProduct), 2),
        "vector_negative_inner_product" => (O::Distance(Distance::NegInnerProduct), 2),
        "cosine_distance" => (O::Distance(Distance::Cosine), 2),
        "l1_distance" => (O::Distance(Distance::L1), 2),
        "vector_dims" => (O::Dims, 1),
        "vector_norm" | "l2_norm" => (O::Norm, 1),
        "l2_normalize" => (O::Normalize, 1),
        "subvector" => (O::Subvector, 3),
        "binary_quantize" => (O::BinaryQuantize, 1),
        "hamming_distance" => (O::Hamming, 2),
        "jaccard_distance" => (O::Jaccard, 2),
        "vector_cmp" | "halfvec_cmp" | "sparsevec_cmp" => (O::Cmp, 2),
        _ => return None,
    };
    if args.len() != arity {
        return None;
    }
    if matches!(op, O::Hamming | O::Jaccard) {
        return args.iter().all(bit_type).then_some((
            VectorFunc {
                op,
                ty: DataType::VarBit(None),
            },
            DataType::Float8,
        ));
    }
    let vector_args = if op == O::Subvector { &args[..1] } else { args };
    if !vector_args
        .iter()
        .all(|t| vector_type(t) || *t == DataType::Unknown)
    {
        return None;
    }
    let ty = call_type(vector_args)?;
    if vector_args
        .iter()
        .filter(|t| vector_type(t))
        .any(|t| std::mem::discriminant(t) != std::mem::discriminant(&ty))
    {
        return None;
    }
    let sparse = matches!(ty, DataType::SparseVec(_));
    let result = match op {
        O::Distance(_) | O::Norm => DataType::Float8,
        O::Dims | O::Cmp => DataType::Int4,
        O::Normalize => ty.clone(),
        O::Subvector if !sparse => ty.clone(),
        O::BinaryQuantize if !sparse => DataType::Bit(None),
        _ => return None,
    };
    // pgvector names the norm vector_norm for vector and l2_norm for the others.
    if op == O::Norm && (name == "vector_norm") != matches!(ty, DataType::Vector(_)) {
        return None;
    }
    Some((VectorFunc { op, ty }, result))
}

/// The type untyped parameters of `f` take (its vector type; subvector's counts are ints).
pub fn param_hint(f: &VectorFunc) -> DataType {
    f.ty.clone()
}

fn typed(v: &Value, ty: &DataType) -> Result<Value> {
    match v {
        Value::Text(s) => Value::parse_text(ty, s),
        other => Ok(other.clone()),
    }
}

fn int_arg(v: Option<&Value>) -> Result<i32> {
    match v.map(|v| v.clone().cast(&DataType::Int4)) {
        Some(Ok(Value::Int4(i))) => Ok(i),
        Some(Err(e)) => Err(e),
        _ => Err(Error::new(code::INTERNAL_ERROR, "subvector needs integers")),
    }
}

/// Evaluates a call (strict: NULL in, NULL out).
pub fn call(f: &VectorFunc, args: &[Value]) -> Result<Value> {
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let arg = |i: usize| -> Result<Value> { typed(args.get(i).unwrap_or(&Value::Null), &f.ty) };
    Ok(match f.op {
        VectorOp::Distance(d) => Value::Float8(ops::distance_of(d, &arg(0)?, &arg(1)?)?),
        VectorOp::Dims => ops::dims(&arg(0)?).map_or(Value::Null, Value::Int4),
        VectorOp::Norm => ops::norm(&arg(0)?).map_or(Value::Null, Value::Float8),
        VectorOp::Normalize => ops::l2_normalize(&arg(0)?)?,
        VectorOp::Subvector => {
            ops::subvector(&arg(0)?, int_arg(args.get(1))?, int_arg(args.get(2))?)?
        }
        VectorOp::BinaryQuantize => ops::binary_quantize(&arg(0)?).unwrap_or(Value::Null),
        VectorOp::Hamming | VectorOp::Jaccard => match (arg(0)?, arg(1)?) {
            (Value::Bit(a), Value::Bit(b)) => Value::Float8(if f.op == VectorOp::Hamming {
                a.hamming(&b)?
            } else {
                a.jaccard(&b)?
            }),
            _ => Value::Null,
        },
        VectorOp::Cmp => {
            let o = arg(0)?.compare(&arg(1)?)?;
            o.map_or(Value::Null, |o| Value::Int4(o as i32))
        }
    })
}
