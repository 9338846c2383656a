//! Helpers of the scalar functions: date_part's fields over civil dates, random numbers for
//! random() and gen_random_uuid(), and md5().

use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

pub(super) fn date_part(field: &str, v: &Value) -> Result<Value> {
    let ts = match v {
        Value::Date(_) | Value::Timestamptz(_) => v.clone().cast(&DataType::Timestamp)?,
        other => other.clone(),
    };
    let field = field.to_lowercase();
    if let Value::Interval(iv) = &ts {
        let secs = iv.micros as f64 / 1e6;
        return Ok(Value::Float8(match field.as_str() {
            "epoch" => (iv.months as f64) * 30.0 * 86_400.0 + (iv.days as f64) * 86_400.0 + secs,
            "year" | "years" => (iv.months / 12) as f64,
            "month" | "months" | "mon" => (iv.months % 12) as f64,
            "day" | "days" => iv.days as f64,
            "hour" | "hours" => (iv.micros / 3_600_000_000) as f64,
            "minute" | "minutes" => ((iv.micros / 60_000_000) % 60) as f64,
            "second" | "seconds" => (iv.micros % 60_000_000) as f64 / 1e6,
            _ => {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!("unit \"{field}\" not supported for type interval"),
                ))
            }
        }));
    }
    let Value::Timestamp(us) = ts else {
        return Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "function date_part(unknown, {}) does not exist",
                v.data_type()
            ),
        ));
    };
    let parts = civil(us)?;
    Ok(Value::Float8(match field.as_str() {
        "year" | "years" => parts.year as f64,
        "month" | "months" | "mon" => parts.month as f64,
        "day" | "days" => parts.day as f64,
        "hour" | "hours" => parts.hour as f64,
        "minute" | "minutes" => parts.minute as f64,
        "second" | "seconds" => parts.second as f64 + parts.micro as f64 / 1e6,
        "dow" => parts.weekday as f64,
        "doy" => parts.yearday as f64,
        "quarter" => ((parts.month - 1) / 3 + 1) as f64,
        "epoch" => us as f64 / 1e6 + 946_684_800.0,
        "microseconds" => (parts.second as i64 * 1_000_000 + parts.micro as i64) as f64,
        "milliseconds" => (parts.second as i64 * 1_000_000 + parts.micro as i64) as f64 / 1e3,
        _ => {
            return Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("unit \"{field}\" not recognized for type timestamp without time zone"),
            ))
        }
    }))
}

pub(super) fn rand_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

pub(super) fn rand_f64() -> f64 {
    (rand_u64() >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn md5_hex(data: &[u8]) -> String {
    let digest = md5::compute(data);
    format!("{digest:x}")
}

/// Calendar fields of a timestamp (microseconds since 2000-01-01).
struct Civil {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    micro: u32,
    /// 0 = Sunday.
    weekday: u8,
    yearday: u16,
}

fn civil(us: i64) -> Result<Civil> {
    let epoch = time::macros::datetime!(2000-01-01 0:00);
    let t = epoch
        .checked_add(time::Duration::microseconds(us))
        .ok_or_else(|| Error::new(code::DATETIME_FIELD_OVERFLOW, "timestamp out of range"))?;
    Ok(Civil {
        year: t.year(),
        month: u8::from(t.month()),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
        micro: t.microsecond(),
        weekday: t.weekday().number_days_from_sunday(),
        yearday: t.ordinal(),
    })
}
