//! Dates, times, timestamps and intervals: the calendar math (proleptic Gregorian, days since
//! 2000-01-01 as PostgreSQL counts them), PostgreSQL's text input (ISO, `Mon DD YYYY`,
//! `MM/DD/YYYY`, special values) and output (ISO DateStyle, `postgres` IntervalStyle), and
//! interval arithmetic and comparison. Every timestamptz is UTC (the session time zone).

use crate::error::{code, Error, Result};

/// Microseconds in a day.
pub const USECS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub const USECS_PER_HOUR: i64 = 3_600_000_000;
/// Microseconds in a second.
pub const USECS_PER_SEC: i64 = 1_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const UNIX_EPOCH_DAYS: i64 = 10_957;
/// The smallest and largest supported years (4713 BC is year -4712).
const MIN_YEAR: i64 = -4712;
const MAX_YEAR: i64 = 294_276;

pub use super::interval::Interval;

/// Rounds a time or timestamp (microseconds) to `p` fractional-second digits, half away from
/// zero, as PostgreSQL's `AdjustTimestampForTypmod` does; `None` (and p >= 6) keeps it, and
/// the infinities stay infinite. A time may round up to 24:00:00, as in PostgreSQL.
pub fn round_to_precision(us: i64, p: Option<u8>) -> i64 {
    let Some(p) = p.filter(|p| *p < 6) else {
        return us;
    };
    if us == i64::MAX || us == i64::MIN {
        return us;
    }
    let scale = 10i64.pow(6 - u32::from(p));
    let half = scale / 2;
    if us >= 0 {
        us.saturating_add(half) / scale * scale
    } else {
        -(us.saturating_neg().saturating_add(half) / scale * scale)
    }
}

pub(crate) fn overflow(what: &str) -> Error {
    Error::new(
        code::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range"),
    )
}

pub(crate) fn bad_format(ty: &str, s: &str) -> Error {
    Error::new(
        code::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {ty}: \"{s}\""),
    )
}

pub(crate) fn field_range(s: &str) -> Error {
    Error::new(
        code::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{s}\""),
    )
}

/// Formats seconds+micros (`secs` in microseconds, < 60 s) as `SS[.ffffff]`, zeros trimmed.
pub(crate) fn format_seconds(us: u64) -> String {
    let s = us / 1_000_000;
    let f = us % 1_000_000;
    if f == 0 {
        format!("{s:02}")
    } else {
        let frac = format!("{f:06}");
        format!("{s:02}.{}", frac.trim_end_matches('0'))
    }
}

/// `HH:MM[:SS[.ffffff]]` (or `MM:SS.f` when `allow_big` and hours are unbounded for intervals)
/// as microseconds. Fractions beyond microseconds are rounded.
pub(crate) fn parse_clock(s: &str, allow_big: bool) -> Option<i64> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |p: &str| -> Option<i64> {
        if p.is_empty() || p.len() > 12 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let secs = |p: &str| -> Option<i64> {
        let (i, f) = match p.split_once('.') {
            Some((i, f)) => (i, f),
            None => (p, ""),
        };
        let whole = num(i)?;
        if !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut frac = 0i64;
        let mut scale = 100_000i64;
        for (k, c) in f.bytes().enumerate() {
            let d = i64::from(c - b'0');
            if k < 6 {
                frac += d * scale;
                scale /= 10;
            } else {
                if k == 6 && d >= 5 {
                    frac += 1;
                }
                break;
            }
        }
        Some(whole * USECS_PER_SEC + frac)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, secs(s)?),
        _ => return None,
    };
    if !allow_big && (m > 59 || s > 60 * USECS_PER_SEC) {
        return None;
    }
    if allow_big && (m > 59 || s >= 60 * USECS_PER_SEC) {
        return None;
    }
    h.checked_mul(USECS_PER_HOUR)?
        .checked_add(m * 60 * USECS_PER_SEC)?
        .checked_add(s)
}

/// Days since 2000-01-01 of a proleptic Gregorian date (year 0 = 1 BC).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - UNIX_EPOCH_DAYS
}

/// (year, month, day) of days since 2000-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + UNIX_EPOCH_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD` (`infinity`, `-infinity`, ` BC` for years before 1).
pub fn format_date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_string(),
        i32::MIN => "-infinity".to_string(),
        _ => {
            let (y, m, d) = civil_from_days(i64::from(days));
            if y <= 0 {
                format!("{:04}-{m:02}-{d:02} BC", 1 - y)
            } else {
                format!("{y:04}-{m:02}-{d:02}")
            }
        }
    }
}

/// `HH:MM:SS[.ffffff]`.
pub fn format_time(us: i64) -> String {
    let us = us.clamp(0, USECS_PER_DAY) as u64;
    let h = us / USECS_PER_HOUR as u64;
    let m = (us % USECS_PER_HOUR as u64) / 60_000_000;
    format!("{h:02}:{m:02}:{}", format_seconds(us % 60_000_000))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (plus `+00` for timestamptz).
pub fn format_timestamp(us: i64, tz: bool) -> String {
    match us {
        i64::MAX => return "infinity".to_string(),
        i64::MIN => return "-infinity".to_string(),
        _ => {}
    }
    let days = us.div_euclid(USECS_PER_DAY);
    let time = us.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (yy, bc) = if y <= 0 { (1 - y, " BC") } else { (y, "") };
    format!(
        "{yy:04}-{m:02}-{d:02} {}{}{bc}",
        format_time(time),
        if tz { "+00" } else { "" }
    )
}

/// What a date/time string says.
#[derive(Default)]
struct Parsed {
    ymd: Option<(i64, u32, u32)>,
    time: Option<i64>,
    tz_secs: Option<i64>,
    special_ts: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn month_name(t: &str) -> Option<u32> {
    let t = t.trim_end_matches('.');
    if t.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .zip(full.iter())
        .position(|(a, f)| t == *a || f.starts_with(t) || (t == "sept" && *a == "sep"))
        .map(|i| i as u32 + 1)
}

/// The time now, in microseconds since 2000-01-01 UTC.
pub fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_micros() as i64).saturating_sub(UNIX_EPOCH_DAYS * USECS_PER_DAY)
}

/// Parses a `+HH[:MM[:SS]]`/`-HHMM` offset into seconds east of UTC.
fn parse_offset(t: &str) -> Option<i64> {
    let (sign, body) = match t.as_bytes().first()? {
        b'+' => (1, t.get(1..)?),
        b'-' => (-1, t.get(1..)?),
        _ => return None,
    };
    if body.is_empty() {
        return None;
    }
    let digits_ok =
        |p: &str| !p.is_empty() && p.len() <= 2 && p.bytes().all(|c| c.is_ascii_digit());
    let (h, m, s) = if body.contains(':') {
        let p: Vec<&str> = body.split(':').collect();
        match p.as_slice() {
            [h, m] if digits_ok(h) && digits_ok(m) => (h.parse().ok()?, m.parse().ok()?, 0),
            [h, m, s] if digits_ok(h) && digits_ok(m) && digits_ok(s) => {
                (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?)
            }
            _ => return None,
        }
    } else if body.bytes().all(|c| c.is_ascii_digit()) {
        match body.len() {
            1 | 2 => (body.parse::<i64>().ok()?, 0, 0),
            4 => (
                body.get(..2)?.parse().ok()?,
                body.get(2..)?.parse().ok()?,
                0,
            ),
            6 => (
                body.get(..2)?.parse().ok()?,
                body.get(2..4)?.parse().ok()?,
                body.get(4..)?.parse().ok()?,
            ),
            _ => return None,
        }
    } else {
        return None;
    };
    let h: i64 = h;
    let m: i64 = m;
    let s: i64 = s;
    if h > 15 || m > 59 || s > 59 {
        return Some(i64::MAX);
    }
    Some(sign * (h * 3600 + m * 60 + s))
}

/// Parses a date/time string into its fields. `ty` names the type for messages.
fn parse_fields(s: &str, ty: &str) -> Result<Parsed> {
    let lower = s.trim().to_ascii_lowercase();
    let err = || bad_format(ty, s);
    let mut p = Parsed::default();
    let today = now_micros().div_euclid(USECS_PER_DAY) * USECS_PER_DAY;
    match lower.as_str() {
        "infinity" | "+infinity" => p.special_ts = Some(i64::MAX),
        "-infinity" => p.special_ts = Some(i64::MIN),
        "epoch" => p.special_ts = Some(-UNIX_EPOCH_DAYS * USECS_PER_DAY),
        "now" => p.special_ts = Some(now_micros()),
        "today" => p.special_ts = Some(today),
        "tomorrow" => p.special_ts = Some(today + USECS_PER_DAY),
        "yesterday" => p.special_ts = Some(today - USECS_PER_DAY),
        "allballs" => p.time = Some(0),
        _ => {}
    }
    if p.special_ts.is_some() || p.time.is_some() {
        return Ok(p);
    }
    // ISO "2024-01-31T04:05:06": the T separates date and time.
    let mut text = lower.clone();
    if let Some(i) = text.find('t') {
        let before = text.get(..i).unwrap_or_default();
        let after = text.get(i + 1..).unwrap_or_default();
        if before.ends_with(|c: char| c.is_ascii_digit())
            && after.starts_with(|c: char| c.is_ascii_digit())
        {
            text = format!("{before} {after}");
        }
    }
    let mut numbers: Vec<&str> = Vec::new();
    let mut month: Option<u32> = None;
    let mut bc = false;
    let tokens: Vec<&str> = text.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    for tok in tokens {
        if tok.contains(':') {
            // time, maybe with an offset glued on
            let (clock, off) = match tok
                .char_indices()
                .skip(1)
                .find(|(_, c)| matches!(c, '+' | '-' | 'z'))
            {
                Some((i, _)) => (tok.get(..i).unwrap_or_default(), tok.get(i..)),
                None => (tok, None),
            };
            if p.time.is_some() {
                return Err(err());
            }
            let us = parse_clock(clock, false).ok_or_else(err)?;
            if us > USECS_PER_DAY {
                return Err(field_range(s));
            }
            p.time = Some(us);
            if let Some(o) = off {
                p.tz_secs = Some(if o == "z" {
                    0
                } else {
                    parse_offset(o).ok_or_else(err)?
                });
            }
        } else if matches!(tok, "z" | "utc" | "gmt" | "zulu" | "ut") {
            p.tz_secs = Some(0);
        } else if (tok.starts_with('+') || tok.starts_with('-'))
            && (p.time.is_some() || p.ymd.is_some())
        {
            p.tz_secs = Some(parse_offset(tok).ok_or_else(err)?);
        } else if tok.contains('-')
            || tok.contains('/')
            || tok.contains('.') && tok.bytes().filter(|&c| c == b'.').count() == 2
        {
            if p.ymd.is_some() {
                return Err(err());
            }
            let parts: Vec<&str> = tok.split(['-', '/', '.']).collect();
            let [a, b, c] = parts.as_slice() else {
                return Err(err());
            };
            let n = |x: &str| -> Result<i64> {
                if x.is_empty() || x.len() > 9 || !x.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err());
                }
                x.parse().map_err(|_| err())
            };
            let ymd = if let Some(mm) = month_name(b) {
                (n(c)?, mm as i64, n(a)?)
            } else if a.len() >= 3 {
                (n(a)?, n(b)?, n(c)?)
            } else {
                (n(c)?, n(a)?, n(b)?)
            };
            if !(1..=12).contains(&ymd.1) || ymd.2 < 1 || ymd.2 > 31 {
                return Err(field_range(s));
            }
            p.ymd = Some((ymd.0, ymd.1 as u32, ymd.2 as u32));
        } else if tok.bytes().all(|c| c.is_ascii_digit()) {
            if tok.len() == 8 && p.ymd.is_none() && month.is_none() && numbers.is_empty() {
                let y = tok.get(..4).and_then(|x| x.parse().ok()).ok_or_else(err)?;
                let m: u32 = tok.get(4..6).and_then(|x| x.parse().ok()).ok_or_else(err)?;
                let d: u32 = tok.get(6..).and_then(|x| x.parse().ok()).ok_or_else(err)?;
                if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                    return Err(field_range(s));
                }
                p.ymd = Some((y, m, d));
            } else {
                numbers.push(tok);
            }
        } else if let Some(m) = month_name(tok) {
            if month.is_some() {
                return Err(err());
            }
            month = Some(m);
        } else if WEEKDAYS.iter().any(|w| tok.starts_with(w)) || tok == "ad" {
        } else if tok == "bc" {
            bc = true;
        } else {
            return Err(err());
        }
    }
    if let Some(m) = month {
        if p.ymd.is_some() || numbers.len() != 2 {
            return Err(err());
        }
        let (a, b) = (
            numbers.first().copied().unwrap_or(""),
            numbers.get(1).copied().unwrap_or(""),
        );
        let (y, d) = if a.len() >= 3 { (a, b) } else { (b, a) };
        let y: i64 = y.parse().map_err(|_| err())?;
        let d: u32 = d.parse().map_err(|_| err())?;
        if !(1..=31).contains(&d) {
            return Err(field_range(s));
        }
        p.ymd = Some((y, m, d));
    } else if !numbers.is_empty() {
        return Err(err());
    }
    if let Some((y, m, d)) = p.ymd {
        let y = if bc { 1 - y } else { y };
        if y == 0 && !bc || d > days_in_month(y, m) || !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return Err(field_range(s));
        }
        p.ymd = Some((y, m, d));
    } else if bc {
        return Err(err());
    }
    if p.tz_secs == Some(i64::MAX) {
        return Err(Error::new(
            "22009",
            format!("time zone displacement out of range: \"{s}\""),
        ));
    }
    Ok(p)
}

/// date input.
pub fn parse_date(s: &str) -> Result<i32> {
    let p = parse_fields(s, "date")?;
    if let Some(ts) = p.special_ts {
        return Ok(match ts {
            i64::MAX => i32::MAX,
            i64::MIN => i32::MIN,
            t => t.div_euclid(USECS_PER_DAY) as i32,
        });
    }
    let (y, m, d) = p.ymd.ok_or_else(|| bad_format("date", s))?;
    Ok(days_from_civil(y, m, d) as i32)
}

/// time input (a date part and an offset are accepted and ignored).
pub fn parse_time(s: &str) -> Result<i64> {
    let p = parse_fields(s, "time")?;
    if let Some(ts) = p.special_ts {
        if ts == i64::MAX || ts == i64::MIN {
            return Err(bad_format("time", s));
        }
        return Ok(ts.rem_euclid(USECS_PER_DAY));
    }
    p.time.ok_or_else(|| bad_format("time", s))
}

/// timestamp (`tz` false: offsets ignored) or timestamptz (UTC micros) input.
pub fn parse_timestamp(s: &str, tz: bool) -> Result<i64> {
    let ty = if tz {
        "timestamp with time zone"
    } else {
        "timestamp"
    };
    let p = parse_fields(s, ty)?;
    if let Some(ts) = p.special_ts {
        return Ok(ts);
    }
    let (y, m, d) = p.ymd.ok_or_else(|| bad_format(ty, s))?;
    let days = days_from_civil(y, m, d);
    let mut us = days * USECS_PER_DAY + p.time.unwrap_or(0);
    if tz {
        us -= p.tz_secs.unwrap_or(0) * USECS_PER_SEC;
    }
    if !(MIN_YEAR..=MAX_YEAR).contains(&civil_from_days(us.div_euclid(USECS_PER_DAY)).0) {
        return Err(Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            format!("timestamp out of range: \"{s}\""),
        ));
    }
    Ok(us)
}

/// date → timestamp micros (infinities kept).
pub fn date_to_timestamp(days: i32) -> i64 {
    match days {
        i32::MAX => i64::MAX,
        i32::MIN => i64::MIN,
        d => i64::from(d) * USECS_PER_DAY,
    }
}

/// timestamp → date (infinities kept).
pub fn timestamp_to_date(us: i64) -> i32 {
    match us {
        i64::MAX => i32::MAX,
        i64::MIN => i32::MIN,
        t => t
            .div_euclid(USECS_PER_DAY)
            .clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX) - 1) as i32,
    }
}

/// timestamp + interval (months by the calendar, clamping the day to the month's end).
pub fn timestamp_add(us: i64, iv: &Interval) -> Result<i64> {
    if us == i64::MAX || us == i64::MIN {
        return Ok(us);
    }
    let mut t = us;
    if iv.months != 0 {
        let days = t.div_euclid(USECS_PER_DAY);
        let time = t.rem_euclid(USECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let total = y * 12 + i64::from(m) - 1 + i64::from(iv.months);
        let ny = total.div_euclid(12);
        let nm = (total.rem_euclid(12) + 1) as u32;
        if !(MIN_YEAR..=MAX_YEAR).contains(&ny) {
            return Err(overflow("timestamp"));
        }
        let nd = d.min(days_in_month(ny, nm));
        t = days_from_civil(ny, nm, nd) * USECS_PER_DAY + time;
    }
    let t = t
        .checked_add(
            i64::from(iv.days)
                .checked_mul(USECS_PER_DAY)
                .ok_or_else(|| overflow("timestamp"))?,
        )
        .and_then(|t| t.checked_add(iv.micros))
        .ok_or_else(|| overflow("timestamp"))?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&civil_from_days(t.div_euclid(USECS_PER_DAY)).0) {
        return Err(overflow("timestamp"));
    }
    Ok(t)
}

/// timestamp - timestamp, as PostgreSQL: days and microseconds (justify_hours).
pub fn timestamp_diff(a: i64, b: i64) -> Result<Interval> {
    if [a, b].iter().any(|&x| x == i64::MAX || x == i64::MIN) {
        return Err(Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            "cannot subtract infinite timestamps",
        ));
    }
    let d = a.checked_sub(b).ok_or_else(|| overflow("interval"))?;
    let days = d / USECS_PER_DAY;
    Ok(Interval {
        months: 0,
        days: i32::try_from(days).map_err(|_| overflow("interval"))?,
        micros: d % USECS_PER_DAY,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(days_from_civil(1970, 1, 1), -UNIX_EPOCH_DAYS);
        for d in [-800_000i64, -1, 0, 1, 59, 60, 10_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
