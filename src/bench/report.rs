//! Latency recording and result printing shared by the benchmark workloads.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram in microseconds (1 µs to 60 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; failure here is a programming error.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000);
    h.saturating_record(us);
}

/// One result line.
pub struct Line {
    pub fields: Vec<(&'static str, serde_json::Value)>,
    pub text: String,
}

/// Prints one result line (JSON or text); fails if stdout is gone.
pub fn print(line: &Line, json: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = line
            .fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        writeln!(out, "{}", serde_json::Value::Object(map))
    } else {
        writeln!(out, "{}", line.text)
    }
}

/// `x` rounded to four significant digits, for JSON figures: a slow disk's
/// 0.003 MB/s must not print as 0.
pub fn sig4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::sig4;

    #[test]
    fn sig4_keeps_small_figures() {
        assert_eq!(sig4(0.0028125), 0.002813);
        assert_eq!(sig4(1234.5678), 1235.0);
        assert_eq!(sig4(12.345678), 12.35);
        assert_eq!(sig4(0.0), 0.0);
    }
}
