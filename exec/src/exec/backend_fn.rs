//! Running the session and server functions (`expr::func_backend`): sleeping while the
//! statement's interrupts (statement_timeout, a CancelRequest, pg_cancel_backend, a
//! termination, the server's shutdown) are watched, and signalling other sessions through
//! the engine's registry of backends.
//!
//! A sleep holds its worker thread, as any long statement does; the server's rescuer thread
//! keeps accepting new connections meanwhile (see `serve`).

use std::time::{Duration, Instant};

use super::Ctx;
use crate::error::{code, Error, Result};
use crate::expr::BackendFunc;
use crate::types::{now_micros, DataType, Value};

/// How often a sleeping statement looks at its interrupts.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// Runs `f` over its arguments (non-NULL: the functions are strict).
pub(crate) fn call(ctx: &Ctx<'_>, f: BackendFunc, args: &[Value]) -> Result<Value> {
    let arg = |i: usize, ty: &DataType| -> Result<Value> {
        match args.get(i) {
            Some(v) => v.clone().cast(ty),
            None => Err(Error::new(code::INTERNAL_ERROR, "missing argument")),
        }
    };
    let pid = || -> Result<i32> {
        let v = arg(0, &DataType::Int4)?.as_i64()?.unwrap_or_default();
        Ok(i32::try_from(v).unwrap_or(0))
    };
    match f {
        BackendFunc::Sleep => {
            let secs = arg(0, &DataType::Float8)?.as_f64().unwrap_or_default();
            sleep(ctx, seconds(secs))
        }
        BackendFunc::SleepFor => {
            let until = Value::binary(
                crate::types::BinaryOp::Add,
                &Value::Timestamptz(now_micros()),
                &arg(0, &DataType::Interval)?,
            )?;
            sleep_until(ctx, &until)
        }
        BackendFunc::SleepUntil => sleep_until(ctx, &arg(0, &DataType::Timestamptz(None))?),
        // Read from the evaluation context by `func_backend`, never run here.
        BackendFunc::BackendPid | BackendFunc::StatementTimestamp | BackendFunc::ClockTimestamp => {
            Err(crate::expr::backend_not_here(f))
        }
        BackendFunc::CancelBackend => {
            let pid = pid()?;
            let found = ctx.engine.backends.cancel(pid);
            // Cancelling oneself cancels this statement, as in PostgreSQL.
            if found && pid == ctx.pid {
                ctx.check_deadline()?;
            }
            Ok(Value::Bool(found))
        }
        BackendFunc::TerminateBackend => {
            let timeout = match args.get(1) {
                Some(_) => arg(1, &DataType::Int8)?.as_i64()?.unwrap_or_default(),
                None => 0,
            };
            if timeout < 0 {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    "\"timeout\" must not be negative",
                ));
            }
            let pid = pid()?;
            if !ctx.engine.backends.terminate(pid) {
                return Ok(Value::Bool(false));
            }
            // Terminating oneself ends this statement with the session, as in PostgreSQL.
            if pid == ctx.pid {
                ctx.check_deadline()?;
            }
            // With a timeout, wait until the session stops (false if it does not in time).
            if timeout == 0 {
                return Ok(Value::Bool(true));
            }
            let end = Instant::now() + Duration::from_millis(timeout.unsigned_abs());
            while !ctx.engine.backends.stopped(pid) {
                ctx.check_deadline()?;
                if Instant::now() >= end {
                    return Ok(Value::Bool(false));
                }
                std::thread::sleep(SLEEP_SLICE);
            }
            Ok(Value::Bool(true))
        }
    }
}

/// `secs` as a sleep: nothing for NaN, zero or less; None (until interrupted) past what an
/// `Instant` can reach, infinity among them.
fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return Some(Duration::ZERO);
    }
    Duration::try_from_secs_f64(secs).ok()
}

fn sleep_until(ctx: &Ctx<'_>, until: &Value) -> Result<Value> {
    let micros = match until {
        Value::Timestamptz(t) => *t,
        other => match other.clone().cast(&DataType::Timestamptz(None))? {
            Value::Timestamptz(t) => t,
            _ => return Err(Error::new(code::INTERNAL_ERROR, "not a timestamp")),
        },
    };
    let left = micros.saturating_sub(now_micros());
    sleep(ctx, Some(Duration::from_micros(left.max(0).unsigned_abs())))
}

/// Sleeps `d` (None: until interrupted), looking at the statement's interrupts every
/// [`SLEEP_SLICE`]; void.
fn sleep(ctx: &Ctx<'_>, d: Option<Duration>) -> Result<Value> {
    let end = d.and_then(|d| Instant::now().checked_add(d));
    loop {
        ctx.check_deadline()?;
        let slice = match end {
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Value::Text(String::new()));
                }
                left.min(SLEEP_SLICE)
            }
            None => SLEEP_SLICE,
        };
        std::thread::sleep(slice);
    }
}
