//! Making dates and times: `to_timestamp(epoch seconds)`, `to_timestamp(text, format)`,
//! `to_date(text, format)`, `make_date`, `make_time`, `make_timestamp` and
//! `make_timestamptz`, with PostgreSQL's results and errors (22008 for a field out of range).
//!
//! The parsing forms read the template patterns `to_char` writes: `YYYY`, `YY` (1970-2069),
//! `MM`, `DD`, `DDD`, `HH`/`HH12`/`HH24`, `MI`, `SS`, `MS`, `US`, `Mon`/`Month` and
//! `Dy`/`Day` (any case), `AM`/`PM`; `FM` is accepted; any other format character skips one
//! input character and a space skips the input's spaces, as PostgreSQL does outside `FX`
//! mode. A field not given defaults as in PostgreSQL (year 1, January, the 1st).

use super::func_time::{DAYS, MONTHS};
use crate::error::{Error, Result};
use crate::types::{civil_from_days, days_from_civil, DataType, Value};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Seconds from 1970-01-01 to 2000-01-01.
const UNIX_TO_2000: f64 = 946_684_800.0;
const DATETIME_OVERFLOW: &str = "22008";

/// A function that makes a date or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MakeFunc {
    /// `to_timestamp(double precision)`.
    FromEpoch,
    /// `to_timestamp(text, text)`.
    ParseTimestamp,
    /// `to_date(text, text)`.
    ParseDate,
    MakeDate,
    MakeTime,
    MakeTimestamp,
    MakeTimestamptz,
}

/// Resolves `name(args)` if it is one of these functions.
pub fn resolve(name: &str, args: &[DataType]) -> Option<(MakeFunc, DataType)> {
    let ts = DataType::Timestamp(None);
    let tstz = DataType::Timestamptz(None);
    Some(match (name, args.len()) {
        ("to_timestamp", 1) => (MakeFunc::FromEpoch, tstz),
        ("to_timestamp", 2) => (MakeFunc::ParseTimestamp, tstz),
        ("to_date", 2) => (MakeFunc::ParseDate, DataType::Date),
        ("make_date", 3) => (MakeFunc::MakeDate, DataType::Date),
        ("make_time", 3) => (MakeFunc::MakeTime, DataType::Time(None)),
        ("make_timestamp", 6) => (MakeFunc::MakeTimestamp, ts),
        ("make_timestamptz", 6) => (MakeFunc::MakeTimestamptz, tstz),
        _ => return None,
    })
}

fn out_of_range(what: &str) -> Error {
    Error::new(DATETIME_OVERFLOW, what.to_string())
}

fn float(v: &Value) -> Result<f64> {
    match v.clone().cast(&DataType::Float8)? {
        Value::Float8(f) => Ok(f),
        _ => Ok(0.0),
    }
}

fn int(v: &Value) -> Result<i64> {
    Ok(v.as_i64()?.unwrap_or(0))
}

/// Days since 2000-01-01 of a checked date (`year` < 0 is BC, as in make_date).
fn date_days(year: i64, month: i64, day: i64, shown: &str) -> Result<i64> {
    let bad = || out_of_range(&format!("date field value out of range: {shown}"));
    if year == 0 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let y = if year < 0 { year + 1 } else { year };
    let m = u32::try_from(month).map_err(|_| bad())?;
    let d = u32::try_from(day).map_err(|_| bad())?;
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days)
}

/// Microseconds of a checked time of day.
fn time_us(hour: i64, min: i64, sec: f64) -> Result<i64> {
    let us = (sec * 1e6).round() as i64;
    if !(0..=24).contains(&hour)
        || !(0..60).contains(&min)
        || !(0..=60_000_000).contains(&us)
        || (hour == 24 && (min > 0 || us > 0))
    {
        return Err(out_of_range(&format!(
            "time field value out of range: {hour}:{min:02}:{sec:02}"
        )));
    }
    Ok((hour * 60 + min) * 60 * USECS_PER_SEC + us)
}

/// Evaluates `f` (NULL in, NULL out).
pub fn call(f: MakeFunc, args: &[Value]) -> Result<Value> {
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let arg = |i: usize| args.get(i).unwrap_or(&Value::Null);
    Ok(match f {
        MakeFunc::FromEpoch => {
            let secs = float(arg(0))?;
            if secs.is_nan() {
                return Err(out_of_range("timestamp cannot be NaN"));
            }
            if secs.is_infinite() {
                return Ok(Value::Timestamptz(if secs > 0.0 {
                    i64::MAX
                } else {
                    i64::MIN
                }));
            }
            let us = ((secs - UNIX_TO_2000) * 1e6).round();
            if us.abs() > 9.0e18 {
                return Err(out_of_range(&format!("timestamp out of range: \"{secs}\"")));
            }
            Value::Timestamptz(us as i64)
        }
        MakeFunc::MakeDate => {
            let (y, m, d) = (int(arg(0))?, int(arg(1))?, int(arg(2))?);
            let days = date_days(y, m, d, &format!("{y}-{m:02}-{d:02}"))?;
            Value::Date(i32::try_from(days).map_err(|_| out_of_range("date out of range"))?)
        }
        MakeFunc::MakeTime => Value::Time(time_us(int(arg(0))?, int(arg(1))?, float(arg(2))?)?),
        MakeFunc::MakeTimestamp | MakeFunc::MakeTimestamptz => {
            let (y, m, d) = (int(arg(0))?, int(arg(1))?, int(arg(2))?);
            let days = date_days(y, m, d, &format!("{y}-{m:02}-{d:02}"))?;
            let us = days * USECS_PER_DAY + time_us(int(arg(3))?, int(arg(4))?, float(arg(5))?)?;
            if f == MakeFunc::MakeTimestamp {
                Value::Timestamp(us)
            } else {
                Value::Timestamptz(us)
            }
        }
        MakeFunc::ParseDate | MakeFunc::ParseTimestamp => {
            let input = arg(0).to_text().unwrap_or_default();
            let format = arg(1).to_text().unwrap_or_default();
            let us = parse(&input, &format)?;
            if f == MakeFunc::ParseDate {
                Value::Date(
                    i32::try_from(us.div_euclid(USECS_PER_DAY))
                        .map_err(|_| out_of_range("date out of range"))?,
                )
            } else {
                Value::Timestamptz(us)
            }
        }
    })
}

/// The patterns read, longest first where one is a prefix of another.
const PATTERNS: [&str; 21] = [
    "YYYY", "HH24", "HH12", "MONTH", "A.M.", "P.M.", "DDD", "YY", "MM", "DD", "HH", "MI", "SS",
    "MS", "US", "MON", "DAY", "DY", "AM", "PM", "FM",
];

/// The input's microseconds since 2000-01-01, read by `format`.
fn parse(input: &str, format: &str) -> Result<i64> {
    let bad = |what: &str| {
        Error::new(
            "22007",
            format!("invalid value \"{what}\" for the format \"{format}\""),
        )
    };
    let (mut year, mut month, mut day, mut doy) = (1i64, 1i64, 1i64, None);
    let (mut hour, mut min, mut sec, mut usec, mut pm) = (0i64, 0i64, 0i64, 0i64, None);
    let mut rest = input;
    let mut f = format;
    let skip_spaces = |s: &str| s.trim_start_matches(char::is_whitespace).len();
    while !f.is_empty() {
        let upper = f.to_ascii_uppercase();
        let Some(p) = PATTERNS.iter().find(|p| upper.starts_with(**p)) else {
            let mut chars = f.chars();
            let c = chars.next().unwrap_or(' ');
            f = chars.as_str();
            if c.is_whitespace() {
                rest = rest
                    .get(rest.len() - skip_spaces(rest)..)
                    .unwrap_or_default();
            } else if c == '"' {
                // Quoted text: skip as many input characters.
                let (text, after) = f.split_once('"').unwrap_or((f, ""));
                for _ in text.chars() {
                    let mut r = rest.chars();
                    r.next();
                    rest = r.as_str();
                }
                f = after;
            } else {
                let mut r = rest.chars();
                r.next();
                rest = r.as_str();
            }
            continue;
        };
        f = f.get(p.len()..).unwrap_or_default();
        if *p == "FM" {
            continue;
        }
        rest = rest
            .get(rest.len() - skip_spaces(rest)..)
            .unwrap_or_default();
        let number = |rest: &mut &str, width: usize| -> Result<i64> {
            let neg = rest.starts_with('-');
            let whole: &str = rest;
            let body = if neg {
                whole.get(1..).unwrap_or_default()
            } else {
                whole
            };
            let digits: String = body
                .chars()
                .take_while(char::is_ascii_digit)
                .take(width)
                .collect();
            if digits.is_empty() {
                return Err(bad(&whole.chars().take(width).collect::<String>()));
            }
            *rest = body.get(digits.len()..).unwrap_or_default();
            let n: i64 = digits.parse().map_err(|_| bad(&digits))?;
            Ok(if neg { -n } else { n })
        };
        let word = |rest: &mut &str, names: &[&str], short: bool| -> Result<usize> {
            let lower = rest.to_ascii_lowercase();
            for (i, n) in names.iter().enumerate() {
                let n = n.to_ascii_lowercase();
                let n = if short { n.get(..3).unwrap_or(&n) } else { &n };
                if lower.starts_with(n) {
                    *rest = rest.get(n.len()..).unwrap_or_default();
                    return Ok(i);
                }
            }
            Err(bad(&rest.chars().take(9).collect::<String>()))
        };
        match *p {
            "YYYY" => year = number(&mut rest, 4)?,
            "YY" => {
                let y = number(&mut rest, 2)?;
                year = if y < 70 { 2000 + y } else { 1900 + y };
            }
            "MM" => month = number(&mut rest, 2)?,
            "DD" => day = number(&mut rest, 2)?,
            "DDD" => doy = Some(number(&mut rest, 3)?),
            "HH" | "HH12" => {
                hour = number(&mut rest, 2)?;
                pm = pm.or(Some(false));
            }
            "HH24" => hour = number(&mut rest, 2)?,
            "MI" => min = number(&mut rest, 2)?,
            "SS" => sec = number(&mut rest, 2)?,
            "MS" => {
                let before = rest.len();
                let n = number(&mut rest, 3)?;
                let digits = before - rest.len();
                usec = n * 10i64.pow(6 - digits as u32);
            }
            "US" => {
                let before = rest.len();
                let n = number(&mut rest, 6)?;
                let digits = before - rest.len();
                usec = n * 10i64.pow(6 - digits as u32);
            }
            "MONTH" => month = word(&mut rest, &MONTHS, false)? as i64 + 1,
            "MON" => month = word(&mut rest, &MONTHS, true)? as i64 + 1,
            "DAY" => {
                word(&mut rest, &DAYS, false)?;
            }
            "DY" => {
                word(&mut rest, &DAYS, true)?;
            }
            _ => {
                // AM / PM / A.M. / P.M.
                let lower = rest.to_ascii_lowercase();
                let (is_pm, used) = if lower.starts_with("p.m.") {
                    (true, 4)
                } else if lower.starts_with("a.m.") {
                    (false, 4)
                } else if lower.starts_with("pm") {
                    (true, 2)
                } else if lower.starts_with("am") {
                    (false, 2)
                } else {
                    return Err(bad(&rest.chars().take(4).collect::<String>()));
                };
                pm = Some(is_pm);
                rest = rest.get(used..).unwrap_or_default();
            }
        }
    }
    if let Some(is_pm) = pm {
        if !(1..=12).contains(&hour) {
            return Err(out_of_range(&format!(
                "hour \"{hour}\" is invalid for the 12-hour clock"
            )));
        }
        hour = hour % 12 + if is_pm { 12 } else { 0 };
    }
    let days = match doy {
        Some(n) => date_days(year, 1, 1, &format!("{year}-01-01"))? + n - 1,
        None => date_days(year, month, day, &format!("{year}-{month:02}-{day:02}"))?,
    };
    let time = time_us(hour, min, sec as f64)? + usec;
    Ok(days * USECS_PER_DAY + time)
}
