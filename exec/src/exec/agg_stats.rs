//! `var_samp` / `variance`, `var_pop`, `stddev_samp` / `stddev`, `stddev_pop`, computed as
//! PostgreSQL computes them so the results agree to the last digit:
//!
//! - over `real` / `double precision`: the Youngs-Cramer running sums (`float8_accum`) in
//!   `f64`, a result in `double precision`;
//! - over integers and `numeric`: exact sums of the values and their squares in `numeric`,
//!   then `(N·Σx² − (Σx)²) / (N·(N−1))` (or `/ N²`) at PostgreSQL's division scale, and the
//!   square root at that same scale (`numeric_stddev_internal`).
//!
//! No input gives NULL; one input gives NULL for the sample forms and 0 for the population
//! ones.

use crate::error::{code, Error, Result};
use crate::expr::AggKind;
use crate::types::{BinaryOp, DataType, Numeric, Value};

/// The running state.
#[derive(Debug, Clone)]
pub(super) enum Moments {
    /// Youngs-Cramer: N, Σx and the sum of squared deviations.
    Float { n: f64, sx: f64, sxx: f64 },
    /// N, Σx and Σx² in numeric.
    Exact {
        n: i64,
        sx: Option<Value>,
        sxx: Option<Value>,
    },
}

impl Moments {
    /// The state for an aggregate whose result type is `ty`.
    pub(super) fn new(ty: &DataType) -> Moments {
        if *ty == DataType::Float8 {
            Moments::Float {
                n: 0.0,
                sx: 0.0,
                sxx: 0.0,
            }
        } else {
            Moments::Exact {
                n: 0,
                sx: None,
                sxx: None,
            }
        }
    }

    /// Folds in `v` (NULLs are skipped).
    pub(super) fn add(&mut self, v: Value) -> Result<()> {
        if v.is_null() {
            return Ok(());
        }
        match self {
            Moments::Float { n, sx, sxx } => {
                let x = match v.cast(&DataType::Float8)? {
                    Value::Float8(x) => x,
                    _ => return Ok(()),
                };
                let before = *n;
                *n += 1.0;
                let old_sx = *sx;
                *sx += x;
                if before > 0.0 {
                    let tmp = x * *n - *sx;
                    *sxx += tmp * tmp / (*n * before);
                    if sx.is_infinite() || sxx.is_infinite() {
                        if old_sx.is_finite() && x.is_finite() {
                            return Err(Error::new(
                                code::NUMERIC_VALUE_OUT_OF_RANGE,
                                "value out of range: overflow",
                            ));
                        }
                        *sxx = f64::NAN;
                    }
                } else if !x.is_finite() {
                    *sxx = f64::NAN;
                }
            }
            Moments::Exact { n, sx, sxx } => {
                let x = v.cast(&DataType::Numeric(None))?;
                let sq = Value::binary(BinaryOp::Mul, &x, &x)?;
                *sx = Some(match sx.take() {
                    None => x,
                    Some(s) => Value::binary(BinaryOp::Add, &s, &x)?,
                });
                *sxx = Some(match sxx.take() {
                    None => sq,
                    Some(s) => Value::binary(BinaryOp::Add, &s, &sq)?,
                });
                *n += 1;
            }
        }
        Ok(())
    }

    /// The aggregate's value.
    pub(super) fn finish(&self, kind: AggKind) -> Result<Value> {
        let sample = matches!(kind, AggKind::VarSamp | AggKind::StddevSamp);
        let root = matches!(kind, AggKind::StddevSamp | AggKind::StddevPop);
        match self {
            Moments::Float { n, sxx, .. } => {
                if *n == 0.0 || (sample && *n <= 1.0) {
                    return Ok(Value::Null);
                }
                let var = sxx / if sample { n - 1.0 } else { *n };
                Ok(Value::Float8(if root { var.sqrt() } else { var }))
            }
            Moments::Exact { n, sx, sxx } => {
                let (Some(Value::Numeric(sx)), Some(Value::Numeric(sxx))) = (sx, sxx) else {
                    return Ok(Value::Null);
                };
                if *n == 0 || (sample && *n <= 1) {
                    return Ok(Value::Null);
                }
                if !sx.is_finite() || !sxx.is_finite() {
                    return Ok(Value::Numeric(Numeric::nan()));
                }
                let count = Numeric::from_i64(*n);
                let num = count.mul(sxx).sub(&sx.mul(sx));
                if num.signum() <= 0 {
                    return Ok(Value::Numeric(Numeric::from_i64(0)));
                }
                let den = count.mul(&Numeric::from_i64(if sample { *n - 1 } else { *n }));
                let var = num.div(&den)?;
                if !root {
                    return Ok(Value::Numeric(var));
                }
                let scale = var.scale();
                var.sqrt_to(scale)
                    .map(Value::Numeric)
                    .ok_or_else(|| Error::new(code::INTERNAL_ERROR, "a negative variance"))
            }
        }
    }
}
