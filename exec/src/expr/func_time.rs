//! Date and time functions: `date_trunc(field, v)`, `age(a[, b])` and `to_char(v, format)` for
//! dates, timestamps and intervals, with PostgreSQL's results: `date_trunc` of a date is a
//! timestamptz; `age` subtracts field by field, borrowing days from the month as PostgreSQL's
//! `timestamp_age` does; `to_char` reads PostgreSQL's template patterns (`YYYY`, `MM`, `DD`,
//! `HH24`, `MI`, `SS`, `MS`, `US`, `Mon`, `Day`, `AM`, `Q`, `WW`, `IW`, `DDD`, `J`, `TZ`,
//! ... with the `FM` and `TH` modifiers and `"quoted"` text). Time zones are UTC (Orbit's
//! only zone), so timestamptz computes as timestamp.

use super::func::Func;
use super::EvalContext;
use crate::error::{code, Error, Result};
use crate::types::{civil_from_days, datetime_overflow, days_from_civil, days_in_month};
use crate::types::{DataType, Interval, Value};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;

/// `date_trunc`, `age`, `to_char` of dates, times and intervals (`func_time`).
pub(super) fn resolve(name: &str, args: &[DataType]) -> Option<(Func, DataType)> {
    if let Some((m, ty)) = super::func_time_make::resolve(name, args) {
        return Some((Func::Make(m), ty));
    }
    let temporal = |t: &DataType| {
        matches!(
            t,
            DataType::Timestamp(_)
                | DataType::Timestamptz(_)
                | DataType::Date
                | DataType::Interval
                | DataType::Unknown
        )
    };
    Some(match (name, args) {
        ("date_trunc", [_, t]) => (
            Func::DateTrunc,
            match t {
                DataType::Timestamp(_) => DataType::Timestamp(None),
                DataType::Interval => DataType::Interval,
                _ => DataType::Timestamptz(None),
            },
        ),
        ("age", [a] | [a, _]) if temporal(a) => (Func::Age, DataType::Interval),
        ("to_char", [t, _]) if temporal(t) && *t != DataType::Unknown => {
            (Func::ToCharTime, DataType::Text)
        }
        (
            "to_char",
            [DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Numeric(_)
            | DataType::Float4
            | DataType::Float8, _],
        ) => (Func::ToCharNumber, DataType::Text),
        _ => return None,
    })
}

/// Evaluates `date_trunc`, `age` and `to_char` (NULL in, NULL out).
pub(super) fn call(f: &Func, args: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let text = |v: &Value| v.to_text().unwrap_or_default();
    match (f, args) {
        (Func::DateTrunc, [field, v]) => date_trunc(&text(field), v),
        (Func::Age, [a, b]) => age(a, b),
        (Func::Age, [a]) => {
            // age(t): from midnight of the current date.
            let today = ctx.now.div_euclid(USECS_PER_DAY) * USECS_PER_DAY;
            let midnight = match a {
                Value::Timestamptz(_) => Value::Timestamptz(today),
                _ => Value::Timestamp(today),
            };
            age(&midnight, a)
        }
        (Func::ToCharTime, [v, format]) => to_char_time(v, &text(format)),
        (Func::Make(m), _) => super::func_time_make::call(*m, args),
        (Func::ToCharNumber, [v, format]) => {
            super::func_number_format::to_char_number(v, &text(format))
        }
        _ => Ok(Value::Null),
    }
}

/// Broken-down time.
#[derive(Debug, Clone, Copy)]
struct Tm {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
    /// Days since 2000-01-01.
    days: i64,
}

fn tm(us: i64) -> Tm {
    let days = us.div_euclid(USECS_PER_DAY);
    let t = us.rem_euclid(USECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Tm {
        year,
        month,
        day,
        hour: t / 3_600_000_000,
        min: t / 60_000_000 % 60,
        sec: t / USECS_PER_SEC % 60,
        usec: t % USECS_PER_SEC,
        days,
    }
}

/// The century (`span` 100) or millennium (1000) of `year`, as PostgreSQL numbers them: the
/// 21st century begins in 2001; before year 1 they count down from -1.
fn period(year: i64, span: i64) -> i64 {
    if year > 0 {
        (year + span - 1) / span
    } else {
        -((span - 1 - (year - 1)) / span)
    }
}

/// The first year of period `n` of `span` years ([`period`]).
fn period_start(n: i64, span: i64) -> i64 {
    if n > 0 {
        (n - 1) * span + 1
    } else {
        n * span + 1
    }
}

fn bad_unit(field: &str, ty: &str) -> Error {
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!("unit \"{field}\" not recognized for type {ty}"),
    )
}

/// Microseconds of a timestamp-like value; `None` for infinities (returned as they are).
fn micros(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(us) | Value::Timestamptz(us) if *us != i64::MAX && *us != i64::MIN => {
            Some(*us)
        }
        Value::Date(d) if *d != i32::MAX && *d != i32::MIN => Some(i64::from(*d) * USECS_PER_DAY),
        _ => None,
    }
}

/// `date_trunc(field, v)`.
pub(super) fn date_trunc(field: &str, v: &Value) -> Result<Value> {
    let field = field.to_ascii_lowercase();
    if let Value::Interval(iv) = v {
        return Ok(Value::Interval(trunc_interval(&field, iv)?));
    }
    let Some(us) = micros(v) else {
        return Ok(match v {
            Value::Date(d) => Value::Timestamptz(if *d == i32::MAX { i64::MAX } else { i64::MIN }),
            other => other.clone(),
        });
    };
    let t = tm(us);
    let ymd = |y: i64, m: u32, d: u32| days_from_civil(y, m, d) * USECS_PER_DAY;
    let day_start = t.days * USECS_PER_DAY;
    let truncated = match field.as_str() {
        "microseconds" => us,
        "milliseconds" => us - us.rem_euclid(1_000),
        "second" => us - us.rem_euclid(USECS_PER_SEC),
        "minute" => us - us.rem_euclid(60 * USECS_PER_SEC),
        "hour" => us - us.rem_euclid(3_600 * USECS_PER_SEC),
        "day" => day_start,
        // ISO weeks start on Monday (2000-01-01 was a Saturday).
        "week" => (t.days - (t.days + 5).rem_euclid(7)) * USECS_PER_DAY,
        "month" => ymd(t.year, t.month, 1),
        "quarter" => ymd(t.year, (t.month - 1) / 3 * 3 + 1, 1),
        "year" => ymd(t.year, 1, 1),
        "decade" => ymd(t.year.div_euclid(10) * 10, 1, 1),
        "century" => ymd(period_start(period(t.year, 100), 100), 1, 1),
        "millennium" => ymd(period_start(period(t.year, 1000), 1000), 1, 1),
        _ => {
            let ty = match v {
                Value::Timestamp(_) => "timestamp without time zone",
                _ => "timestamp with time zone",
            };
            return Err(bad_unit(&field, ty));
        }
    };
    Ok(match v {
        Value::Timestamp(_) => Value::Timestamp(truncated),
        // A date is truncated as the timestamptz it casts to.
        _ => Value::Timestamptz(truncated),
    })
}

fn trunc_interval(field: &str, iv: &Interval) -> Result<Interval> {
    let (months, days, us) = (iv.months, iv.days, iv.micros);
    let keep = |unit: i64| us - us % unit;
    Ok(match field {
        "microseconds" => *iv,
        "milliseconds" => Interval::new(months, days, keep(1_000)),
        "second" => Interval::new(months, days, keep(USECS_PER_SEC)),
        "minute" => Interval::new(months, days, keep(60 * USECS_PER_SEC)),
        "hour" => Interval::new(months, days, keep(3_600 * USECS_PER_SEC)),
        "day" => Interval::new(months, days, 0),
        "month" => Interval::new(months, 0, 0),
        "quarter" => Interval::new(months - months % 3, 0, 0),
        "year" => Interval::new(months - months % 12, 0, 0),
        "decade" => Interval::new(months - months % 120, 0, 0),
        "century" => Interval::new(months - months % 1200, 0, 0),
        "millennium" => Interval::new(months - months % 12000, 0, 0),
        _ => return Err(bad_unit(field, "interval")),
    })
}

/// `age(a, b)`: `a - b` in years, months, days and time, borrowing as PostgreSQL does.
pub(super) fn age(a: &Value, b: &Value) -> Result<Value> {
    let (Some(x), Some(y)) = (micros(a), micros(b)) else {
        return Err(Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            "cannot subtract infinite timestamps",
        ));
    };
    let (t1, t2) = (tm(x), tm(y));
    let neg = x < y;
    let sign = if neg { -1 } else { 1 };
    let mut usec = sign * (t1.usec - t2.usec);
    let mut sec = sign * (t1.sec - t2.sec);
    let mut min = sign * (t1.min - t2.min);
    let mut hour = sign * (t1.hour - t2.hour);
    let mut day = sign * (i64::from(t1.day) - i64::from(t2.day));
    let mut mon = sign * (i64::from(t1.month) - i64::from(t2.month));
    let mut year = sign * (t1.year - t2.year);
    while usec < 0 {
        usec += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        day -= 1;
    }
    while day < 0 {
        let from = if neg { t1 } else { t2 };
        day += i64::from(days_in_month(from.year, from.month));
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let months =
        i32::try_from(sign * (year * 12 + mon)).map_err(|_| datetime_overflow("interval"))?;
    let days = i32::try_from(sign * day).map_err(|_| datetime_overflow("interval"))?;
    let time = sign * (((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + usec);
    Ok(Value::Interval(Interval::new(months, days, time)))
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The template patterns, longest first where one is a prefix of another.
const PATTERNS: [&str; 62] = [
    "A.M.", "a.m.", "P.M.", "p.m.", "HH24", "HH12", "SSSSS", "SSSS", "YYYY", "IYYY", "MONTH",
    "Month", "month", "HH", "MI", "SS", "MS", "US", "AM", "am", "PM", "pm", "YYY", "IYY", "YY",
    "IY", "MON", "Mon", "mon", "MM", "DAY", "Day", "day", "DY", "Dy", "dy", "DDD", "IDDD", "DD",
    "ID", "D", "WW", "IW", "W", "CC", "Q", "J", "TZ", "tz", "OF", "FF1", "FF2", "FF3", "FF4",
    "FF5", "FF6", "BC", "bc", "AD", "ad", "Y", "I",
];

/// Whether `body` starts with pattern `p`: names (`Month`, `DY`, `am`, ...) by their exact
/// case, which sets the output's; the numeric patterns in any case (`hh24`, `yyyy`, `q`).
fn pattern_at(body: &str, p: &str) -> bool {
    if body.starts_with(p) {
        return true;
    }
    let named = p.chars().any(|c| c.is_ascii_lowercase())
        || matches!(
            p,
            "MONTH" | "MON" | "DAY" | "DY" | "AM" | "PM" | "A.M." | "P.M." | "BC" | "AD" | "TZ"
        );
    !named
        && body
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p))
}

/// Days since 2000-01-01 of the Monday that starts ISO year `y`'s first week.
fn iso_year_start(y: i64) -> i64 {
    let jan4 = days_from_civil(y, 1, 4);
    jan4 - (jan4 + 5).rem_euclid(7)
}

/// (ISO year, ISO week, ISO day of year) of a day.
fn iso(days: i64, year: i64) -> (i64, i64, i64) {
    let mut y = year + 1;
    while days < iso_year_start(y) {
        y -= 1;
    }
    let start = iso_year_start(y);
    let doy = days - start + 1;
    (y, (doy - 1) / 7 + 1, doy)
}

/// `to_char(timestamp | date | interval, format)`.
pub(super) fn to_char_time(v: &Value, format: &str) -> Result<Value> {
    let (us, tz) = match v {
        Value::Interval(iv) => return Ok(Value::Text(to_char_interval(iv, format))),
        Value::Timestamptz(_) => (micros(v), true),
        _ => (micros(v), false),
    };
    let Some(us) = us else {
        return Ok(Value::Null);
    };
    let t = tm(us);
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars.get(i..).unwrap_or_default().iter().collect();
        if let Some(q) = rest.strip_prefix('"') {
            // Quoted text, `\"` inside it a quote.
            let mut it = q.chars();
            let mut used = 1;
            while let Some(c) = it.next() {
                used += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(n) = it.next() {
                            out.push(n);
                            used += 1;
                        }
                    }
                    c => out.push(c),
                }
            }
            i += used;
            continue;
        }
        if let Some(r) = rest.strip_prefix('\\') {
            if let Some(c) = r.chars().next() {
                out.push(c);
                i += 2;
                continue;
            }
        }
        let fm = rest.starts_with("FM") || rest.starts_with("fm");
        let body = if fm {
            rest.get(2..).unwrap_or_default()
        } else {
            &rest
        };
        let Some(p) = PATTERNS.iter().find(|p| pattern_at(body, p)) else {
            out.push(chars.get(i).copied().unwrap_or(' '));
            i += 1;
            continue;
        };
        let after = body.get(p.len()..).unwrap_or_default();
        let (th, th_upper) = match after.get(..2) {
            Some("TH") => (true, true),
            Some("th") => (true, false),
            _ => (false, false),
        };
        i += usize::from(fm) * 2 + p.chars().count() + if th { 2 } else { 0 };
        let num = |n: i64, width: usize| -> String {
            let s = if fm {
                n.to_string()
            } else if n < 0 {
                format!("-{:0width$}", -n, width = width)
            } else {
                format!("{n:0width$}")
            };
            if th {
                let suffix = ordinal(n);
                s + &if th_upper {
                    suffix.to_uppercase()
                } else {
                    suffix.to_string()
                }
            } else {
                s
            }
        };
        let name = |full: &str, upper: bool, lower: bool, pad: usize| -> String {
            let s = if upper {
                full.to_uppercase()
            } else if lower {
                full.to_lowercase()
            } else {
                full.to_string()
            };
            if fm {
                s
            } else {
                format!("{s:<pad$}")
            }
        };
        let dow = (t.days + 6).rem_euclid(7); // 0 = Sunday
        let h12 = match t.hour % 12 {
            0 => 12,
            h => h,
        };
        let pm = t.hour >= 12;
        let month = MONTHS.get(t.month as usize - 1).copied().unwrap_or("");
        let day_name = DAYS.get(dow as usize).copied().unwrap_or("");
        let doy = t.days - days_from_civil(t.year, 1, 1) + 1;
        let (iy, iw, idoy) = iso(t.days, t.year);
        let year_abs = if t.year <= 0 { 1 - t.year } else { t.year };
        let piece = match *p {
            "HH" | "HH12" => num(h12, 2),
            "HH24" => num(t.hour, 2),
            "MI" => num(t.min, 2),
            "SS" => num(t.sec, 2),
            "SSSS" | "SSSSS" => num(t.hour * 3600 + t.min * 60 + t.sec, 0),
            "MS" => num(t.usec / 1000, 3),
            "US" => num(t.usec, 6),
            "FF1" => num(t.usec / 100_000, 1),
            "FF2" => num(t.usec / 10_000, 2),
            "FF3" => num(t.usec / 1000, 3),
            "FF4" => num(t.usec / 100, 4),
            "FF5" => num(t.usec / 10, 5),
            "FF6" => num(t.usec, 6),
            "AM" | "PM" => (if pm { "PM" } else { "AM" }).into(),
            "am" | "pm" => (if pm { "pm" } else { "am" }).into(),
            "A.M." | "P.M." => (if pm { "P.M." } else { "A.M." }).into(),
            "a.m." | "p.m." => (if pm { "p.m." } else { "a.m." }).into(),
            "YYYY" => num(year_abs, 4),
            "YYY" => num(year_abs % 1000, 3),
            "YY" => num(year_abs % 100, 2),
            "Y" => num(year_abs % 10, 1),
            "IYYY" => num(iy, 4),
            "IYY" => num(iy % 1000, 3),
            "IY" => num(iy % 100, 2),
            "I" => num(iy % 10, 1),
            "BC" | "AD" => (if t.year <= 0 { "BC" } else { "AD" }).into(),
            "bc" | "ad" => (if t.year <= 0 { "bc" } else { "ad" }).into(),
            "MONTH" => name(month, true, false, 9),
            "Month" => name(month, false, false, 9),
            "month" => name(month, false, true, 9),
            "MON" => name(month.get(..3).unwrap_or(""), true, false, 3),
            "Mon" => name(month.get(..3).unwrap_or(""), false, false, 3),
            "mon" => name(month.get(..3).unwrap_or(""), false, true, 3),
            "MM" => num(i64::from(t.month), 2),
            "DAY" => name(day_name, true, false, 9),
            "Day" => name(day_name, false, false, 9),
            "day" => name(day_name, false, true, 9),
            "DY" => name(day_name.get(..3).unwrap_or(""), true, false, 3),
            "Dy" => name(day_name.get(..3).unwrap_or(""), false, false, 3),
            "dy" => name(day_name.get(..3).unwrap_or(""), false, true, 3),
            "DDD" => num(doy, 3),
            "IDDD" => num(idoy, 3),
            "DD" => num(i64::from(t.day), 2),
            "D" => num(dow + 1, 1),
            "ID" => num(if dow == 0 { 7 } else { dow }, 1),
            "W" => num((i64::from(t.day) - 1) / 7 + 1, 1),
            "WW" => num((doy - 1) / 7 + 1, 2),
            "IW" => num(iw, 2),
            "CC" => num(period(t.year, 100), 2),
            "Q" => num(i64::from((t.month - 1) / 3 + 1), 1),
            "J" => num(t.days + 2_451_545, 0),
            "TZ" => (if tz { "UTC" } else { "" }).into(),
            "tz" => (if tz { "utc" } else { "" }).into(),
            "OF" => (if tz { "+00" } else { "" }).into(),
            _ => String::new(),
        };
        out.push_str(&piece);
    }
    Ok(Value::Text(out))
}

/// `to_char(interval, format)`: the time fields and days/months/years of an interval.
fn to_char_interval(iv: &Interval, format: &str) -> String {
    let total = iv.micros;
    let hours = total / 3_600_000_000;
    let fields = [
        ("HH24", format!("{hours:02}")),
        ("HH", format!("{:02}", hours % 12)),
        ("MI", format!("{:02}", (total / 60_000_000 % 60).abs())),
        ("SS", format!("{:02}", (total / USECS_PER_SEC % 60).abs())),
        ("MS", format!("{:03}", (total / 1000 % 1000).abs())),
        ("US", format!("{:06}", (total % USECS_PER_SEC).abs())),
        ("DD", format!("{:02}", iv.days)),
        ("MM", format!("{:02}", iv.months % 12)),
        ("YYYY", format!("{:04}", iv.months / 12)),
    ];
    let mut out = String::new();
    let mut rest = format;
    'outer: while !rest.is_empty() {
        for (p, v) in &fields {
            if let Some(r) = rest.strip_prefix(p) {
                out.push_str(v);
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// English ordinal suffix.
fn ordinal(n: i64) -> &'static str {
    match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    }
}
