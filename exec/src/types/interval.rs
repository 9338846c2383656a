//! The `interval` type: months, days and microseconds kept apart as PostgreSQL keeps them,
//! its text input (verbose `1 year 2 mons`, `@ ... ago`, `HH:MM:SS`, ISO 8601 `P...`) and
//! `postgres`-style output, arithmetic and the 30-day-month comparison key.

use super::datetime::{
    bad_format, format_seconds, overflow, parse_clock, USECS_PER_DAY, USECS_PER_HOUR,
};
use crate::error::{code, Error, Result};

/// An interval: months, days and microseconds, kept apart as PostgreSQL keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    /// An interval of `months`, `days` and `micros`.
    pub fn new(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// The value PostgreSQL compares and hashes intervals by (30-day months, 24-hour days).
    pub fn cmp_key(&self) -> i128 {
        i128::from(self.months) * 30 * i128::from(USECS_PER_DAY)
            + i128::from(self.days) * i128::from(USECS_PER_DAY)
            + i128::from(self.micros)
    }

    /// Field-wise sum.
    pub fn checked_add(&self, o: &Interval) -> Result<Interval> {
        Ok(Interval {
            months: self
                .months
                .checked_add(o.months)
                .ok_or_else(|| overflow("interval"))?,
            days: self
                .days
                .checked_add(o.days)
                .ok_or_else(|| overflow("interval"))?,
            micros: self
                .micros
                .checked_add(o.micros)
                .ok_or_else(|| overflow("interval"))?,
        })
    }

    /// Negation.
    pub fn checked_neg(&self) -> Result<Interval> {
        Ok(Interval {
            months: self
                .months
                .checked_neg()
                .ok_or_else(|| overflow("interval"))?,
            days: self
                .days
                .checked_neg()
                .ok_or_else(|| overflow("interval"))?,
            micros: self
                .micros
                .checked_neg()
                .ok_or_else(|| overflow("interval"))?,
        })
    }

    /// Field-wise difference.
    pub fn checked_sub(&self, o: &Interval) -> Result<Interval> {
        self.checked_add(&o.checked_neg()?)
    }

    /// interval * float8 (PostgreSQL's interval_mul: fractional months spill into days,
    /// fractional days into microseconds).
    pub fn mul_f64(&self, f: f64) -> Result<Interval> {
        if f.is_nan() || f.is_infinite() {
            return Err(overflow("interval"));
        }
        let m = f64::from(self.months) * f;
        let d = f64::from(self.days) * f;
        let rm = m.trunc();
        let month_rem_days = (m - rm) * 30.0;
        let rd = d.trunc();
        let mut sec_rem = (d - rd + month_rem_days.fract()) * 86_400.0;
        let rd = rd + month_rem_days.trunc();
        // Round sub-microsecond noise as PostgreSQL does (TSROUND).
        sec_rem = (sec_rem * 1e6).round() / 1e6;
        let micros = (self.micros as f64) * f + sec_rem * 1e6;
        from_parts_f64(rm, rd, micros.round())
    }

    /// interval / float8, as PostgreSQL 15's interval_div: the months' remainder becomes
    /// days of 30, rounded to microsecond precision before its fraction becomes time.
    pub fn div_f64(&self, f: f64) -> Result<Interval> {
        if f == 0.0 {
            return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
        }
        if f.is_nan() {
            return Err(overflow("interval"));
        }
        let tsround = |v: f64| (v * 1e6).round_ties_even() / 1e6;
        let m = f64::from(self.months) / f;
        let d = f64::from(self.days) / f;
        let (rm, mut rd) = (m.trunc(), d.trunc());
        let month_rem_days = tsround((m - rm) * 30.0);
        let mut sec_rem = tsround((d - rd + month_rem_days.fract()) * 86_400.0);
        if sec_rem.abs() >= 86_400.0 {
            let whole = (sec_rem / 86_400.0).trunc();
            rd += whole;
            sec_rem -= whole * 86_400.0;
        }
        rd += month_rem_days.trunc();
        let micros = (self.micros as f64 / f + sec_rem * 1e6).round_ties_even();
        from_parts_f64(rm, rd, micros)
    }

    /// The `postgres` IntervalStyle output: `1 year 2 mons 3 days 04:05:06.5`.
    pub fn to_text(&self) -> String {
        let year = self.months / 12;
        let mon = self.months % 12;
        let mut out = String::new();
        let mut is_zero = true;
        let mut is_before = false;
        for (v, unit) in [(year, "year"), (mon, "mon"), (self.days, "day")] {
            if v == 0 {
                continue;
            }
            if !is_zero {
                out.push(' ');
            }
            if is_before && v > 0 {
                out.push('+');
            }
            out.push_str(&format!("{v} {unit}{}", if v != 1 { "s" } else { "" }));
            is_before = v < 0;
            is_zero = false;
        }
        if is_zero || self.micros != 0 {
            let minus = self.micros < 0;
            let abs = self.micros.unsigned_abs();
            let hours = abs / USECS_PER_HOUR as u64;
            let rem = abs % USECS_PER_HOUR as u64;
            let mins = rem / 60_000_000;
            let secs = rem % 60_000_000;
            if !is_zero {
                out.push(' ');
            }
            out.push_str(if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            });
            out.push_str(&format!("{hours:02}:{mins:02}:"));
            out.push_str(&format_seconds(secs));
        }
        out
    }

    /// Parses PostgreSQL's interval input (verbose, `@ ... ago`, `HH:MM:SS`, ISO 8601 `P...`).
    pub fn parse(s: &str) -> Result<Interval> {
        let t = s.trim().to_ascii_lowercase();
        let err = || bad_format("interval", s);
        if t.is_empty() {
            return Err(err());
        }
        let mut acc = Acc::default();
        if let Some(rest) = t.strip_prefix('p') {
            parse_iso_interval(rest, &mut acc).ok_or_else(err)?;
            return acc.finish(s);
        }
        let t = t.strip_prefix('@').unwrap_or(&t);
        let mut tokens: Vec<String> = Vec::new();
        for w in t.split_whitespace() {
            // Split glued number/unit tokens: "1day", "-2hours".
            let split = w
                .char_indices()
                .skip(1)
                .find(|(_, c)| c.is_ascii_alphabetic())
                .map(|(i, _)| i);
            match split {
                Some(i) if w.get(..i).is_some_and(|n| n.parse::<f64>().is_ok()) => {
                    tokens.push(w.get(..i).unwrap_or_default().to_string());
                    tokens.push(w.get(i..).unwrap_or_default().to_string());
                }
                _ => tokens.push(w.to_string()),
            }
        }
        let mut ago = false;
        let mut i = 0;
        while let Some(tok) = tokens.get(i) {
            i += 1;
            if tok == "ago" {
                ago = true;
                continue;
            }
            if tok.contains(':') {
                let (neg, body) = match tok.as_bytes().first() {
                    Some(b'-') => (true, tok.get(1..).unwrap_or_default()),
                    Some(b'+') => (false, tok.get(1..).unwrap_or_default()),
                    _ => (false, tok.as_str()),
                };
                let us = parse_clock(body, true).ok_or_else(err)?;
                acc.micros += (if neg { -us } else { us }) as f64;
                continue;
            }
            let v: f64 = tok.parse().map_err(|_| err())?;
            if !v.is_finite() || tok.contains(['i', 'n']) {
                return Err(err());
            }
            let unit = match tokens.get(i) {
                Some(u) if u.bytes().all(|c| c.is_ascii_alphabetic()) && u != "ago" => {
                    i += 1;
                    u.as_str()
                }
                _ => "second",
            };
            acc.add_unit(v, unit).ok_or_else(err)?;
        }
        if ago {
            acc.months = -acc.months;
            acc.days = -acc.days;
            acc.micros = -acc.micros;
        }
        acc.finish(s)
    }
}

/// Months, days and microseconds computed in floating point, as an interval (22008 when a
/// field does not fit).
fn from_parts_f64(months: f64, days: f64, micros: f64) -> Result<Interval> {
    let in_i32 = |v: f64| v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX);
    if !in_i32(months) || !in_i32(days) || !(-9.2e18..9.2e18).contains(&micros) {
        return Err(overflow("interval"));
    }
    Ok(Interval {
        months: months as i32,
        days: days as i32,
        micros: micros as i64,
    })
}

/// Accumulates interval fields with fractional spill-over (months → days → microseconds).
#[derive(Default)]
struct Acc {
    months: f64,
    days: f64,
    micros: f64,
}

impl Acc {
    fn add_unit(&mut self, v: f64, unit: &str) -> Option<()> {
        match unit {
            "microsecond" | "microseconds" | "usec" | "usecs" | "us" => self.micros += v,
            "millisecond" | "milliseconds" | "msec" | "msecs" | "ms" => self.micros += v * 1e3,
            "second" | "seconds" | "sec" | "secs" | "s" => self.micros += v * 1e6,
            "minute" | "minutes" | "min" | "mins" | "m" => self.micros += v * 6e7,
            "hour" | "hours" | "hr" | "hrs" | "h" => self.micros += v * 3.6e9,
            "day" | "days" | "d" => self.days += v,
            "week" | "weeks" | "w" => self.days += v * 7.0,
            "month" | "months" | "mon" | "mons" => self.months += v,
            "year" | "years" | "yr" | "yrs" | "y" => self.months += v * 12.0,
            "decade" | "decades" => self.months += v * 120.0,
            "century" | "centuries" => self.months += v * 1200.0,
            "millennium" | "millennia" | "millenniums" => self.months += v * 12000.0,
            _ => return None,
        }
        Some(())
    }

    fn finish(&self, s: &str) -> Result<Interval> {
        let m = self.months.trunc();
        let extra_days = (self.months - m) * 30.0;
        let days_total = self.days + extra_days;
        let d = days_total.trunc();
        let micros = (self.micros + (days_total - d) * USECS_PER_DAY as f64).round();
        let in_i32 = |v: f64| v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX);
        if !in_i32(m) || !in_i32(d) || !(-9.2e18..9.2e18).contains(&micros) {
            return Err(Error::new(
                code::DATETIME_FIELD_OVERFLOW,
                format!("interval field value out of range: \"{s}\""),
            ));
        }
        Ok(Interval {
            months: m as i32,
            days: d as i32,
            micros: micros as i64,
        })
    }
}

fn parse_iso_interval(rest: &str, acc: &mut Acc) -> Option<()> {
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            't' if num.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' | '+' => num.push(c),
            _ => {
                let v: f64 = num.parse().ok()?;
                num.clear();
                any = true;
                let unit = match (c, in_time) {
                    ('y', false) => "year",
                    ('m', false) => "month",
                    ('w', false) => "week",
                    ('d', false) => "day",
                    ('h', true) => "hour",
                    ('m', true) => "minute",
                    ('s', true) => "second",
                    _ => return None,
                };
                acc.add_unit(v, unit)?;
            }
        }
    }
    (num.is_empty() && any).then_some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit {
    use super::*;

    #[test]
    fn interval_text() {
        let iv = |s: &str| Interval::parse(s).unwrap().to_text();
        assert_eq!(
            iv("1 year 2 mons 3 days 04:05:06.5"),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(iv("-1 days +02:00:00"), "-1 days +02:00:00");
        assert_eq!(iv("2 hours 30 minutes"), "02:30:00");
        assert_eq!(iv("@ 1 hour ago"), "-01:00:00");
        assert_eq!(iv("P1Y2M3DT4H5M6S"), "1 year 2 mons 3 days 04:05:06");
        assert_eq!(iv("1.5 months"), "1 mon 15 days");
        assert_eq!(iv("0"), "00:00:00");
        assert_eq!(iv("1 day"), "1 day");
        assert_eq!(iv("3 mons"), "3 mons");
        assert!(Interval::parse("abc").is_err());
    }
}
