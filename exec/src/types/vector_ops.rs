//! pgvector's operations on `Value::Vector`, `HalfVec` and `SparseVec`: the four distances
//! (`<->` L2, `<#>` negative inner product, `<=>` cosine, `<+>` L1), element-wise `+ - *`,
//! `||`, btree ordering, norms, `l2_normalize`, `subvector`, `binary_quantize`, and the
//! `avg` / `sum` aggregates. Sums run in f32 (pgvector's do too) through `orbit-index`'s SIMD
//! kernels and are returned as float8; norms run in f64, as pgvector's do.

use std::cmp::Ordering;

use orbit_index::hnsw::distance;

use super::bits::Bits;
use super::vector::{check_dim, check_typmod, to_half, too_many_dims, Kind, SparseVec};
use super::Value;
use crate::error::{code, Error, Result};

/// A distance operator / function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// `<->`, l2_distance.
    L2,
    /// `<#>`: the negative inner product.
    NegInnerProduct,
    /// inner_product().
    InnerProduct,
    /// `<=>`, cosine_distance.
    Cosine,
    /// `<+>`, l1_distance.
    L1,
}

impl Distance {
    /// The operator of a distance, if it has one.
    pub fn operator(self) -> Option<&'static str> {
        match self {
            Distance::L2 => Some("<->"),
            Distance::NegInnerProduct => Some("<#>"),
            Distance::Cosine => Some("<=>"),
            Distance::L1 => Some("<+>"),
            Distance::InnerProduct => None,
        }
    }

    /// The distance an operator names.
    pub fn from_operator(op: &str) -> Option<Distance> {
        Some(match op {
            "<->" => Distance::L2,
            "<#>" => Distance::NegInnerProduct,
            "<=>" => Distance::Cosine,
            "<+>" => Distance::L1,
            _ => return None,
        })
    }
}

fn kind_of(v: &Value) -> Option<Kind> {
    match v {
        Value::Vector(_) => Some(Kind::Vector),
        Value::HalfVec(_) => Some(Kind::HalfVec),
        Value::SparseVec(_) => Some(Kind::SparseVec),
        _ => None,
    }
}

/// `different vector dimensions 3 and 2` (22000).
pub fn different_dims(kind: Kind, a: usize, b: usize) -> Error {
    Error::new(
        code::DATA_EXCEPTION,
        format!("different {} dimensions {a} and {b}", kind.name()),
    )
}

fn overflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

/// The distance `d` between two values of one vector type (NULL handling is the caller's).
pub fn distance_of(d: Distance, a: &Value, b: &Value) -> Result<f64> {
    match (a, b) {
        (Value::Vector(x), Value::Vector(y)) => dense_distance(d, Kind::Vector, x, y),
        (Value::HalfVec(x), Value::HalfVec(y)) => dense_distance(d, Kind::HalfVec, x, y),
        (Value::SparseVec(x), Value::SparseVec(y)) => sparse_distance(d, x, y),
        _ => Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "operator does not exist: {} {} {}",
                a.data_type(),
                d.operator().unwrap_or("<#>"),
                b.data_type()
            ),
        )),
    }
}

/// A distance between two dense vectors (f32 sums, as pgvector's).
pub fn dense_distance(d: Distance, kind: Kind, x: &[f32], y: &[f32]) -> Result<f64> {
    if x.len() != y.len() {
        return Err(different_dims(kind, x.len(), y.len()));
    }
    Ok(match d {
        Distance::L2 => f64::from(distance::l2_squared(x, y)).sqrt(),
        Distance::InnerProduct => f64::from(distance::dot(x, y)),
        Distance::NegInnerProduct => -f64::from(distance::dot(x, y)),
        Distance::Cosine => cosine(
            distance::dot(x, y),
            distance::dot(x, x),
            distance::dot(y, y),
        ),
        Distance::L1 => f64::from(distance::l1(x, y)),
    })
}

/// 1 - dot / sqrt(|x|²|y|²), the similarity clamped to [-1, 1]; NaN for a zero vector.
fn cosine(dot: f32, xx: f32, yy: f32) -> f64 {
    let sim = f64::from(dot) / (f64::from(xx) * f64::from(yy)).sqrt();
    if sim.is_nan() {
        return f64::NAN;
    }
    1.0 - sim.clamp(-1.0, 1.0)
}

fn sparse_distance(d: Distance, x: &SparseVec, y: &SparseVec) -> Result<f64> {
    if x.dim != y.dim {
        return Err(different_dims(
            Kind::SparseVec,
            x.dim as usize,
            y.dim as usize,
        ));
    }
    let (mut l2, mut dot, mut l1) = (0f32, 0f32, 0f32);
    let (mut i, mut j) = (0, 0);
    while i < x.indices.len() || j < y.indices.len() {
        let xi = x.indices.get(i).copied().unwrap_or(u32::MAX);
        let yj = y.indices.get(j).copied().unwrap_or(u32::MAX);
        let (a, b) = match xi.cmp(&yj) {
            Ordering::Equal => {
                i += 1;
                j += 1;
                (x.values[i - 1], y.values[j - 1])
            }
            Ordering::Less => {
                i += 1;
                (x.values[i - 1], 0.0)
            }
            Ordering::Greater => {
                j += 1;
                (0.0, y.values[j - 1])
            }
        };
        l2 += (a - b) * (a - b);
        dot += a * b;
        l1 += (a - b).abs();
    }
    Ok(match d {
        Distance::L2 => f64::from(l2).sqrt(),
        Distance::InnerProduct => f64::from(dot),
        Distance::NegInnerProduct => -f64::from(dot),
        Distance::Cosine => cosine(
            dot,
            x.values.iter().map(|v| v * v).sum(),
            y.values.iter().map(|v| v * v).sum(),
        ),
        Distance::L1 => f64::from(l1),
    })
}

/// Element-wise `+`, `-` or `*` of two vectors (or halfvecs), with pgvector's overflow and
/// underflow errors.
pub fn arithmetic(op: char, a: &Value, b: &Value) -> Result<Value> {
    let (kind, x, y) = match (a, b) {
        (Value::Vector(x), Value::Vector(y)) => (Kind::Vector, x, y),
        (Value::HalfVec(x), Value::HalfVec(y)) => (Kind::HalfVec, x, y),
        _ => {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!(
                    "operator does not exist: {} {op} {}",
                    a.data_type(),
                    b.data_type()
                ),
            ))
        }
    };
    if x.len() != y.len() {
        return Err(different_dims(kind, x.len(), y.len()));
    }
    let mut out = Vec::with_capacity(x.len());
    for (p, q) in x.iter().zip(y) {
        let r = match op {
            '+' => p + q,
            '-' => p - q,
            _ => p * q,
        };
        let r = if kind == Kind::HalfVec {
            to_half(r)?
        } else {
            r
        };
        if r.is_infinite() {
            return Err(overflow());
        }
        if op == '*' && r == 0.0 && *p != 0.0 && *q != 0.0 {
            return Err(Error::new(
                code::NUMERIC_VALUE_OUT_OF_RANGE,
                "value out of range: underflow",
            ));
        }
        out.push(r);
    }
    Ok(wrap(kind, out))
}

fn wrap(kind: Kind, v: Vec<f32>) -> Value {
    match kind {
        Kind::HalfVec => Value::HalfVec(v),
        _ => Value::Vector(v),
    }
}

/// `||` of two vectors (or halfvecs).
pub fn concat(a: &Value, b: &Value) -> Result<Value> {
    let kind = kind_of(a).unwrap_or(Kind::Vector);
    match (a, b) {
        (Value::Vector(x), Value::Vector(y)) | (Value::HalfVec(x), Value::HalfVec(y)) => {
            if x.len() + y.len() > super::vector::MAX_DIM as usize {
                return Err(too_many_dims(kind));
            }
            Ok(wrap(kind, x.iter().chain(y).copied().collect()))
        }
        _ => Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "operator does not exist: {} || {}",
                a.data_type(),
                b.data_type()
            ),
        )),
    }
}

/// pgvector's btree order of dense vectors: element by element, then the shorter first.
pub fn cmp_dense(x: &[f32], y: &[f32]) -> Ordering {
    for (p, q) in x.iter().zip(y) {
        match p.partial_cmp(q) {
            Some(Ordering::Equal) | None => {}
            Some(o) => return o,
        }
    }
    x.len().cmp(&y.len())
}

/// sparsevec order: as the dense forms compare, then by dimension (see `key::put_sparse`).
pub fn cmp_sparse(x: &SparseVec, y: &SparseVec) -> Ordering {
    let (mut i, mut j) = (0, 0);
    loop {
        let a = x.indices.get(i).map(|&k| (k, x.values[i]));
        let b = y.indices.get(j).map(|&k| (k, y.values[j]));
        match (a, b) {
            (None, None) => return x.dim.cmp(&y.dim),
            (Some((_, v)), None) => return v.partial_cmp(&0.0).unwrap_or(Ordering::Equal),
            (None, Some((_, w))) => return 0f32.partial_cmp(&w).unwrap_or(Ordering::Equal),
            (Some((k, v)), Some((l, w))) => {
                let o = match k.cmp(&l) {
                    Ordering::Equal => v.partial_cmp(&w),
                    Ordering::Less => v.partial_cmp(&0.0),
                    Ordering::Greater => 0f32.partial_cmp(&w),
                }
                .unwrap_or(Ordering::Equal);
                if o != Ordering::Equal {
                    return o;
                }
                i += 1;
                j += 1;
            }
        }
    }
}

/// The Euclidean norm (vector_norm / l2_norm), summed in f64.
pub fn norm(v: &Value) -> Option<f64> {
    let sum = |xs: &[f32]| {
        xs.iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
    };
    match v {
        Value::Vector(x) | Value::HalfVec(x) => Some(sum(x).sqrt()),
        Value::SparseVec(s) => Some(sum(&s.values).sqrt()),
        _ => None,
    }
}

/// l2_normalize: each element over the norm; a zero vector stays zero.
pub fn l2_normalize(v: &Value) -> Result<Value> {
    let n = norm(v).unwrap_or(0.0);
    let scale = |xs: &[f32], half: bool| -> Result<Vec<f32>> {
        xs.iter()
            .map(|x| {
                let r = if n > 0.0 {
                    (f64::from(*x) / n) as f32
                } else {
                    *x
                };
                let r = if half { to_half(r)? } else { r };
                if r.is_infinite() {
                    return Err(overflow());
                }
                Ok(r)
            })
            .collect()
    };
    Ok(match v {
        Value::Vector(x) => Value::Vector(scale(x, false)?),
        Value::HalfVec(x) => Value::HalfVec(scale(x, true)?),
        Value::SparseVec(s) => {
            let values = scale(&s.values, false)?;
            let (indices, values) = s
                .indices
                .iter()
                .zip(values)
                .filter(|(_, x)| *x != 0.0)
                .map(|(i, x)| (*i, x))
                .unzip();
            Value::SparseVec(Box::new(SparseVec {
                dim: s.dim,
                indices,
                values,
            }))
        }
        other => other.clone(),
    })
}

/// subvector(v, start, count), 1-based like substring, with pgvector's clamping.
pub fn subvector(v: &Value, start: i32, count: i32) -> Result<Value> {
    let (kind, x) = match v {
        Value::Vector(x) => (Kind::Vector, x),
        Value::HalfVec(x) => (Kind::HalfVec, x),
        _ => return Ok(Value::Null),
    };
    let dim = x.len() as i64;
    let at_least_one = || {
        Error::new(
            code::DATA_EXCEPTION,
            format!("{} must have at least 1 dimension", kind.name()),
        )
    };
    if count < 1 {
        return Err(at_least_one());
    }
    let mut begin = i64::from(start);
    let end = (begin + i64::from(count)).min(dim + 1);
    if begin < 1 {
        begin = 1;
    } else if begin > dim {
        return Err(at_least_one());
    }
    if end <= begin {
        return Err(at_least_one());
    }
    Ok(wrap(
        kind,
        x[(begin - 1) as usize..(end - 1) as usize].to_vec(),
    ))
}

/// binary_quantize: bit i is set where element i is positive.
pub fn binary_quantize(v: &Value) -> Option<Value> {
    match v {
        Value::Vector(x) | Value::HalfVec(x) => {
            Some(Value::Bit(Bits::from_bools(x.iter().map(|e| *e > 0.0))))
        }
        _ => None,
    }
}

/// vector_dims.
pub fn dims(v: &Value) -> Option<i32> {
    match v {
        Value::Vector(x) | Value::HalfVec(x) => Some(x.len() as i32),
        Value::SparseVec(s) => Some(s.dim as i32),
        _ => None,
    }
}

/// The running state of `avg(vector)` / `sum(vector)`: f64 sums (avg) or the f32 sum
/// (sum, whose every step is a vector addition with its overflow check), and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorSum {
    pub kind: Option<Kind>,
    pub count: u64,
    pub sums: Vec<f64>,
    pub exact: Vec<f32>,
}

impl VectorSum {
    /// Adds one non-null value; `avg` decides which mismatch message a wrong dimension gets.
    pub fn add(&mut self, v: &Value, avg: bool) -> Result<()> {
        let (kind, x) = match v {
            Value::Vector(x) => (Kind::Vector, x),
            Value::HalfVec(x) => (Kind::HalfVec, x),
            _ => return Ok(()),
        };
        if self.count == 0 {
            self.kind = Some(kind);
            self.sums = x.iter().map(|e| f64::from(*e)).collect();
            self.exact = x.clone();
            self.count = 1;
            return Ok(());
        }
        if x.len() != self.sums.len() {
            return Err(if avg {
                check_typmod(Some(self.sums.len() as u32), x.len())
                    .err()
                    .unwrap_or_else(overflow)
            } else {
                different_dims(kind, self.sums.len(), x.len())
            });
        }
        for (s, e) in self.sums.iter_mut().zip(x) {
            *s += f64::from(*e);
        }
        if !avg {
            for (s, e) in self.exact.iter_mut().zip(x) {
                let r = *s + *e;
                let r = if kind == Kind::HalfVec {
                    to_half(r)?
                } else {
                    r
                };
                if r.is_infinite() {
                    return Err(overflow());
                }
                *s = r;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The aggregate's result (NULL over no rows).
    pub fn finish(&self, avg: bool) -> Result<Value> {
        let Some(kind) = self.kind else {
            return Ok(Value::Null);
        };
        if !avg {
            return Ok(wrap(kind, self.exact.clone()));
        }
        let n = self.count as f64;
        let mut out = Vec::with_capacity(self.sums.len());
        for s in &self.sums {
            let r = (s / n) as f32;
            let r = if kind == Kind::HalfVec {
                to_half(r)?
            } else {
                r
            };
            if r.is_infinite() {
                return Err(overflow());
            }
            out.push(r);
        }
        check_dim(kind, out.len())?;
        Ok(wrap(kind, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[f32]) -> Value {
        Value::Vector(x.to_vec())
    }

    #[test]
    fn distances_match_pgvectors_examples() {
        let a = v(&[1.0, 2.0]);
        let b = v(&[3.0, 4.0]);
        assert_eq!(
            distance_of(Distance::NegInnerProduct, &a, &b).ok(),
            Some(-11.0)
        );
        assert_eq!(distance_of(Distance::InnerProduct, &a, &b).ok(), Some(11.0));
        assert_eq!(distance_of(Distance::L1, &a, &b).ok(), Some(4.0));
        let l2 = distance_of(Distance::L2, &v(&[0.0, 0.0]), &v(&[3.0, 4.0])).ok();
        assert_eq!(l2, Some(5.0));
        let c = distance_of(Distance::Cosine, &v(&[1.0, 0.0]), &v(&[0.0, 1.0])).ok();
        assert_eq!(c, Some(1.0));
        let z = distance_of(Distance::Cosine, &v(&[0.0, 0.0]), &v(&[1.0, 1.0])).ok();
        assert!(z.is_some_and(f64::is_nan));
        let e = distance_of(Distance::L2, &v(&[1.0]), &v(&[1.0, 2.0]));
        assert!(
            matches!(e, Err(Error::Sql { message, .. }) if message == "different vector dimensions 1 and 2")
        );
    }

    #[test]
    fn sparse_distances_equal_dense_ones() {
        let x = super::super::vector::parse_sparse("{1:1,3:-2,5:4}/6", None).expect("x");
        let y = super::super::vector::parse_sparse("{2:3,3:1,6:-1}/6", None).expect("y");
        for d in [
            Distance::L2,
            Distance::InnerProduct,
            Distance::NegInnerProduct,
            Distance::Cosine,
            Distance::L1,
        ] {
            let sparse = sparse_distance(d, &x, &y).expect("sparse");
            let dense = dense_distance(d, Kind::Vector, &x.to_dense(), &y.to_dense()).expect("d");
            assert!((sparse - dense).abs() < 1e-6, "{d:?}");
        }
    }

    #[test]
    fn ordering_is_lexicographic_then_by_length() {
        assert_eq!(cmp_dense(&[1.0, 2.0], &[2.0, 3.0, 4.0]), Ordering::Less);
        assert_eq!(cmp_dense(&[2.0, 3.0], &[1.0, 2.0, 3.0]), Ordering::Greater);
        assert_eq!(cmp_dense(&[1.0, 2.0], &[1.0, 2.0, 0.0]), Ordering::Less);
        let p = |s| super::super::vector::parse_sparse(s, None).expect("parse");
        let cases = [
            "{}/3", "{1:1}/3", "{2:1}/3", "{2:-1}/3", "{1:-1}/3", "{3:5}/3", "{}/4",
        ];
        for a in cases {
            for b in cases {
                let (x, y) = (p(a), p(b));
                let dense = cmp_dense(&x.to_dense(), &y.to_dense());
                let dense = if dense == Ordering::Equal {
                    x.dim.cmp(&y.dim)
                } else {
                    dense
                };
                assert_eq!(cmp_sparse(&x, &y), dense, "{a} vs {b}");
                let (mut kx, mut ky) = (Vec::new(), Vec::new());
                super::super::encode_key(&Value::SparseVec(Box::new(x)), &mut kx);
                super::super::encode_key(&Value::SparseVec(Box::new(y)), &mut ky);
                assert_eq!(kx.cmp(&ky), dense, "key {a} vs {b}");
            }
        }
    }

    #[test]
    fn arithmetic_checks_overflow_and_underflow() {
        assert_eq!(
            arithmetic('+', &v(&[1.0, 2.0]), &v(&[3.0, 4.0])).ok(),
            Some(v(&[4.0, 6.0]))
        );
        assert!(arithmetic('+', &v(&[3e38]), &v(&[3e38])).is_err());
        assert!(arithmetic('*', &v(&[1e-37]), &v(&[1e-37])).is_err());
        assert!(arithmetic('-', &v(&[1.0]), &v(&[1.0, 2.0])).is_err());
        assert_eq!(concat(&v(&[1.0]), &v(&[2.0])).ok(), Some(v(&[1.0, 2.0])));
    }

    #[test]
    fn subvector_clamps_like_pgvector() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let sub = |s, c| subvector(&x, s, c).ok();
        assert_eq!(sub(1, 3), Some(v(&[1.0, 2.0, 3.0])));
        assert_eq!(sub(3, 2), Some(v(&[3.0, 4.0])));
        assert_eq!(sub(-1, 3), Some(v(&[1.0])));
        assert_eq!(sub(3, 9), Some(v(&[3.0, 4.0, 5.0])));
        assert_eq!(sub(-2147483644, 2147483647), Some(v(&[1.0, 2.0])));
        for (s, c) in [(-1, 2), (1, 0), (3, -1), (2147483647, 10)] {
            assert!(sub(s, c).is_none(), "{s} {c}");
        }
    }

    #[test]
    fn norms_quantize_and_aggregate() {
        assert_eq!(norm(&v(&[3.0, 4.0])), Some(5.0));
        assert_eq!(l2_normalize(&v(&[3.0, 4.0])).ok(), Some(v(&[0.6, 0.8])));
        assert_eq!(l2_normalize(&v(&[0.0, 0.0])).ok(), Some(v(&[0.0, 0.0])));
        let q = binary_quantize(&v(&[1.0, 0.0, -1.0])).map(|b| b.to_text());
        assert_eq!(q.flatten().as_deref(), Some("100"));
        let mut s = VectorSum::default();
        s.add(&v(&[1.0, 2.0]), true).expect("add");
        s.add(&v(&[3.0, 6.0]), true).expect("add");
        assert_eq!(s.finish(true).ok(), Some(v(&[2.0, 4.0])));
        assert!(s.add(&v(&[1.0]), true).is_err());
        let mut t = VectorSum::default();
        t.add(&v(&[1.0, 2.0]), false).expect("add");
        t.add(&v(&[3.0, 6.0]), false).expect("add");
        assert_eq!(t.finish(false).ok(), Some(v(&[4.0, 8.0])));
        assert!(t.add(&v(&[1.0]), false).is_err());
        assert_eq!(VectorSum::default().finish(true).ok(), Some(Value::Null));
    }
}
