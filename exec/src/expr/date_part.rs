//! `date_part(field, v)` and `EXTRACT(field FROM v)`: the fields of dates, times, timestamps
//! and intervals, as PostgreSQL 15 gives them (EXTRACT of a date has no time fields and
//! integer epoch and julian). date_part returns double precision; EXTRACT
//! returns numeric with PostgreSQL's scale: 6 for `second` and `epoch` (of anything but a
//! date), 3 for `milliseconds`, none for the others, and `julian` of a timestamp the day's
//! fraction as numeric division gives it.
//!
//! A field is computed once as an exact [`Part`] (units of 10^-scale), so both functions
//! agree to the last digit.

use crate::error::{code, Error, Result};
use crate::types::{DataType, Numeric, Value};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Julian day number of 2000-01-01 (Orbit's and PostgreSQL's date origin).
const JULIAN_2000: i64 = 2_451_545;
/// Days from 1970-01-01 to 2000-01-01.
const UNIX_EPOCH_DAYS: i64 = 10_957;

/// A field's exact value.
enum Part {
    /// `units` × 10^-scale.
    Fixed(i64, i64),
    /// Already numeric (julian of a timestamp).
    Numeric(Numeric),
}

/// `date_part(field, v)`: double precision. A date is read as a timestamp (PostgreSQL has no
/// date_part of a date: the date is cast), so its time fields are 0.
pub(super) fn date_part(field: &str, v: &Value) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let v = match v {
        Value::Date(_) => v.clone().cast(&DataType::Timestamp(None))?,
        _ => v.clone(),
    };
    Ok(Value::Float8(match part(field, &v)? {
        Part::Fixed(units, scale) => units as f64 / 10f64.powi(scale as i32),
        Part::Numeric(n) => n.to_f64(),
    }))
}

/// `EXTRACT(field FROM v)`: numeric.
pub(super) fn extract(field: &str, v: &Value) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(Value::Numeric(match part(field, v)? {
        Part::Fixed(units, scale) => Numeric::from_parts(units.into(), scale),
        Part::Numeric(n) => n,
    }))
}

fn part(field: &str, v: &Value) -> Result<Part> {
    let field = field.to_lowercase();
    let field = canonical(&field);
    match v {
        Value::Interval(iv) => interval_part(field, iv.months, iv.days, iv.micros),
        Value::Time(us) => time_part(field, *us),
        Value::Date(days) => date_fields(field, i64::from(*days)),
        Value::Timestamp(_) | Value::Timestamptz(_) => {
            let Value::Timestamp(us) = v.clone().cast(&DataType::Timestamp(None))? else {
                return Err(no_function(v));
            };
            timestamp_part(field, us)
        }
        _ => Err(no_function(v)),
    }
}

/// The plural and abbreviated spellings PostgreSQL accepts.
fn canonical(field: &str) -> &str {
    match field {
        "years" | "y" | "yr" | "yrs" => "year",
        "months" | "mon" | "mons" => "month",
        "days" | "d" => "day",
        "hours" | "h" | "hr" | "hrs" => "hour",
        "minutes" | "m" | "min" | "mins" => "minute",
        "seconds" | "s" | "sec" | "secs" => "second",
        "millisecond" | "ms" | "msec" | "msecs" | "mseconds" => "milliseconds",
        "microsecond" | "us" | "usec" | "usecs" | "useconds" => "microseconds",
        "weeks" | "w" => "week",
        "decades" => "decade",
        "centuries" => "century",
        "millenniums" | "millennia" => "millennium",
        "j" => "julian",
        other => other,
    }
}

fn no_function(v: &Value) -> Error {
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!(
            "function date_part(unknown, {}) does not exist",
            v.data_type()
        ),
    )
}

fn unsupported(field: &str, ty: &str) -> Error {
    Error::new(
        code::FEATURE_NOT_SUPPORTED,
        format!("unit \"{field}\" not supported for type {ty}"),
    )
}

fn int(v: i64) -> Result<Part> {
    Ok(Part::Fixed(v, 0))
}

/// Seconds-and-below fields of `us` microseconds within a minute, and epoch of `epoch_us`.
fn sub_minute(field: &str, us_in_minute: i64) -> Option<Part> {
    Some(match field {
        "second" => Part::Fixed(us_in_minute, 6),
        "milliseconds" => Part::Fixed(us_in_minute, 3),
        "microseconds" => Part::Fixed(us_in_minute, 0),
        _ => return None,
    })
}

fn time_part(field: &str, us: i64) -> Result<Part> {
    if let Some(p) = sub_minute(field, us % (60 * USECS_PER_SEC)) {
        return Ok(p);
    }
    match field {
        "hour" => int(us / (3600 * USECS_PER_SEC)),
        "minute" => int(us / (60 * USECS_PER_SEC) % 60),
        "epoch" => Ok(Part::Fixed(us, 6)),
        other => Err(unsupported(other, "time without time zone")),
    }
}

fn interval_part(field: &str, months: i32, days: i32, us: i64) -> Result<Part> {
    let (months, days) = (i64::from(months), i64::from(days));
    if let Some(p) = sub_minute(field, us % (60 * USECS_PER_SEC)) {
        return Ok(p);
    }
    let year = months / 12;
    match field {
        "minute" => int(us / (60 * USECS_PER_SEC) % 60),
        "hour" => int(us / (3600 * USECS_PER_SEC)),
        "day" => int(days),
        "month" => int(months % 12),
        "quarter" => int((months % 12) / 3 + 1),
        "year" => int(year),
        "decade" => int(year / 10),
        "century" => int(year / 100),
        "millennium" => int(year / 1000),
        "epoch" => {
            // A year is 365.25 days, a month 30, a day 86,400 s (PostgreSQL's rule).
            let secs = year * 31_557_600 + (months % 12) * 30 * 86_400 + days * 86_400;
            Ok(Part::Fixed(secs * USECS_PER_SEC + us, 6))
        }
        other => Err(unsupported(other, "interval")),
    }
}

/// The calendar fields of a day (days since 2000-01-01).
fn date_fields(field: &str, days: i64) -> Result<Part> {
    match field {
        "hour" | "minute" | "second" | "milliseconds" | "microseconds" => {
            Err(unsupported(field, "date"))
        }
        "epoch" => int((days + UNIX_EPOCH_DAYS) * 86_400),
        "julian" => int(days + JULIAN_2000),
        other => calendar(other, days, "date"),
    }
}

fn timestamp_part(field: &str, us: i64) -> Result<Part> {
    let days = us.div_euclid(USECS_PER_DAY);
    let of_day = us.rem_euclid(USECS_PER_DAY);
    if let Some(p) = sub_minute(field, of_day % (60 * USECS_PER_SEC)) {
        return Ok(p);
    }
    match field {
        "hour" => int(of_day / (3600 * USECS_PER_SEC)),
        "minute" => int(of_day / (60 * USECS_PER_SEC) % 60),
        "epoch" => Ok(Part::Fixed(us + UNIX_EPOCH_DAYS * USECS_PER_DAY, 6)),
        "julian" => {
            let fraction = Numeric::from_i64(of_day).div(&Numeric::from_i64(USECS_PER_DAY))?;
            Ok(Part::Numeric(
                Numeric::from_i64(days + JULIAN_2000).add(&fraction),
            ))
        }
        other => calendar(other, days, "timestamp without time zone"),
    }
}

/// Fields of the civil date `days` after 2000-01-01.
fn calendar(field: &str, days: i64, ty: &str) -> Result<Part> {
    let date = time::Date::from_julian_day((days + JULIAN_2000) as i32)
        .map_err(|_| Error::new(code::DATETIME_FIELD_OVERFLOW, "timestamp out of range"))?;
    // PostgreSQL numbers years without a year 0: 1 BC is -1.
    let astronomical = i64::from(date.year());
    let year = if astronomical > 0 {
        astronomical
    } else {
        astronomical - 1
    };
    let (iso_year, iso_week, _) = date.to_iso_week_date();
    let dow = i64::from(date.weekday().number_days_from_sunday());
    match field {
        "day" => int(i64::from(date.day())),
        "month" => int(i64::from(u8::from(date.month()))),
        "year" => int(year),
        "quarter" => int((i64::from(u8::from(date.month())) - 1) / 3 + 1),
        "dow" => int(dow),
        "isodow" => int(if dow == 0 { 7 } else { dow }),
        "doy" => int(i64::from(date.ordinal())),
        "week" => int(i64::from(iso_week)),
        "isoyear" => {
            let y = i64::from(iso_year);
            int(if y > 0 { y } else { y - 1 })
        }
        "decade" => int(if year >= 0 {
            year / 10
        } else {
            -((8 - (year - 1)) / 10)
        }),
        "century" => int(if year > 0 {
            (year + 99) / 100
        } else {
            -((99 - (year - 1)) / 100)
        }),
        "millennium" => int(if year > 0 {
            (year + 999) / 1000
        } else {
            -((999 - (year - 1)) / 1000)
        }),
        other => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("unit \"{other}\" not recognized for type {ty}"),
        )),
    }
}
