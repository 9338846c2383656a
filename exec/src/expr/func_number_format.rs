//! `to_char(number, format)` with PostgreSQL's numeric template patterns: `9` (a digit, blank
//! when it would be a leading zero), `0` (a digit, zeros kept; zero filling goes on from the
//! first `0`), `.`/`D` (the decimal point), `,`/`G` (a group separator, blank before the first
//! digit), `FM` (no padding, trailing zeros of `9` positions dropped), the signs `S`, `MI`, `PL`,
//! `SG`, `PR`, and `"quoted"` text. Without a sign pattern a minus (or a blank) goes right
//! before the first digit. A number with more integer digits than the format has gives `#`
//! in every digit position, as PostgreSQL does. The number is rounded half away from zero to
//! the format's fractional digits. `RN` (`rn`) gives the number as a Roman numeral (1 to 3999,
//! right-aligned in 15 characters unless `FM`), and `EEEE` scientific notation with as many
//! fractional digits as the format has (`9.99EEEE`: ` 1.23e+03`); like PostgreSQL, the
//! exponent is the unrounded number's (`to_char(999.99, '9.9EEEE')` is ` 10.0e+02`), and `EEEE`
//! combined with anything but digits and a decimal point is a syntax error (42601).

use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Nine,
    Zero,
    Point,
    Group,
    /// `S`: the sign, `+` or `-`.
    Sign,
    /// `MI`: `-` if negative, else a blank.
    Minus,
    /// `PL`: `+` if positive, else a blank.
    Plus,
    /// `SG`: `+` or `-`.
    SignGlyph,
    /// `PR`: a negative number in angle brackets.
    Brackets,
    /// `RN` / `rn`: a Roman numeral, in lower case for `rn`.
    Roman(bool),
    /// `EEEE`: scientific notation.
    Exponent,
    Text(String),
}

fn tokens(format: &str) -> (Vec<Token>, bool) {
    let mut out = Vec::new();
    let mut fm = false;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars
            .get(i + 1)
            .copied()
            .unwrap_or('\0')
            .to_ascii_uppercase();
        let two = (c.to_ascii_uppercase(), next);
        let (token, used) = match two {
            ('F', 'M') => {
                fm = true;
                i += 2;
                continue;
            }
            ('R', 'N') => (Token::Roman(c == 'r'), 2),
            ('E', 'E')
                if chars
                    .get(i..i + 4)
                    .is_some_and(|e| e.iter().all(|c| c.eq_ignore_ascii_case(&'e'))) =>
            {
                (Token::Exponent, 4)
            }
            ('M', 'I') => (Token::Minus, 2),
            ('P', 'L') => (Token::Plus, 2),
            ('S', 'G') => (Token::SignGlyph, 2),
            ('P', 'R') => (Token::Brackets, 2),
            ('9', _) => (Token::Nine, 1),
            ('0', _) => (Token::Zero, 1),
            ('.', _) | ('D', _) => (Token::Point, 1),
            (',', _) | ('G', _) => (Token::Group, 1),
            ('S', _) => (Token::Sign, 1),
            ('"', _) => {
                let text: String = chars
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| **c != '"')
                    .collect();
                let used = text.chars().count() + 2;
                (Token::Text(text), used)
            }
            _ => (Token::Text(c.to_string()), 1),
        };
        out.push(token);
        i += used;
    }
    (out, fm)
}

/// `to_char(v, format)` of a number.
pub(super) fn to_char_number(v: &Value, format: &str) -> Result<Value> {
    let n = match v.clone().cast(&DataType::Numeric(None))? {
        Value::Numeric(n) => n,
        _ => return Ok(Value::Null),
    };
    let (tokens, fm) = tokens(format);
    if let Some(lower) = tokens.iter().find_map(|t| match t {
        Token::Roman(lower) => Some(*lower),
        _ => None,
    }) {
        return Ok(Value::Text(roman(&n, lower, fm)));
    }
    if tokens.contains(&Token::Exponent) {
        return scientific(&n, &tokens, fm).map(Value::Text);
    }
    let point = tokens.iter().position(|t| *t == Token::Point);
    let is_digit = |t: &Token| matches!(t, Token::Nine | Token::Zero);
    let int_slots = tokens
        .iter()
        .take(point.unwrap_or(tokens.len()))
        .filter(|t| is_digit(t))
        .count();
    let frac_slots = point.map_or(0, |p| {
        tokens.iter().skip(p + 1).filter(|t| is_digit(t)).count()
    });
    let negative = n.signum() < 0;
    let rounded = n.round_to(frac_slots as i64);
    let magnitude = if negative {
        rounded.neg()
    } else {
        rounded.clone()
    };
    let text = Value::Numeric(magnitude).to_text().unwrap_or_default();
    let (int_text, frac_text) = text.split_once('.').unwrap_or((&text, ""));
    let mut int_digits: Vec<char> = int_text.trim_start_matches('0').chars().collect();
    // A zero integer part shows as `0` without a decimal point (`to_char(0, '999')`), and in
    // fill mode for zero itself (`0.`), but not before a fraction (`  .50`).
    if int_digits.is_empty() && (point.is_none() || (fm && rounded.signum() == 0)) {
        int_digits.push('0');
    }
    let mut frac_digits: Vec<char> = frac_text.chars().collect();
    frac_digits.resize(frac_slots, '0');
    let overflow = int_digits.len() > int_slots || !n.is_finite();
    // `S` before the digits is anchored to the number (right before its first digit).
    let first_digit_token = tokens.iter().position(is_digit).unwrap_or(usize::MAX);
    let anchored = tokens
        .iter()
        .position(|t| *t == Token::Sign)
        .is_some_and(|s| s < first_digit_token);
    let explicit_sign = !anchored
        && tokens.iter().any(|t| {
            matches!(
                t,
                Token::Sign | Token::Minus | Token::Plus | Token::SignGlyph | Token::Brackets
            )
        });
    let first_digit_slot = int_slots.saturating_sub(int_digits.len());
    let zero_fill_from = tokens
        .iter()
        .take(point.unwrap_or(tokens.len()))
        .filter(|t| is_digit(t))
        .position(|t| *t == Token::Zero)
        .unwrap_or(usize::MAX);
    // FM drops trailing zeros of `9` positions: how many fractional digits stay.
    let mut frac_kept = frac_slots;
    if fm {
        let frac_tokens: Vec<&Token> = point
            .map(|p| tokens.iter().skip(p + 1).filter(|t| is_digit(t)).collect())
            .unwrap_or_default();
        while frac_kept > 0
            && frac_digits.get(frac_kept - 1) == Some(&'0')
            && frac_tokens.get(frac_kept - 1) == Some(&&Token::Nine)
        {
            frac_kept -= 1;
        }
    }
    let mut out = String::new();
    let mut int_slot = 0;
    let mut frac_slot = 0;
    let mut started = false;
    let mut after_point = false;
    let sign_char = match (negative, anchored) {
        (true, _) => '-',
        (false, true) => '+',
        (false, false) => ' ',
    };
    let mut sign_placed = explicit_sign;
    let place_sign = |out: &mut String, placed: &mut bool| {
        if !*placed {
            if negative || anchored || !fm {
                out.push(sign_char);
            }
            *placed = true;
        }
    };
    for t in &tokens {
        match t {
            Token::Nine | Token::Zero if !after_point => {
                let slot = int_slot;
                int_slot += 1;
                if overflow {
                    place_sign(&mut out, &mut sign_placed);
                    out.push('#');
                    continue;
                }
                if slot >= first_digit_slot {
                    place_sign(&mut out, &mut sign_placed);
                    started = true;
                    out.push(
                        int_digits
                            .get(slot - first_digit_slot)
                            .copied()
                            .unwrap_or('0'),
                    );
                } else if slot >= zero_fill_from {
                    place_sign(&mut out, &mut sign_placed);
                    started = true;
                    out.push('0');
                } else if !fm {
                    out.push(' ');
                }
            }
            Token::Nine | Token::Zero => {
                let slot = frac_slot;
                frac_slot += 1;
                if overflow {
                    out.push('#');
                } else if slot < frac_kept {
                    out.push(frac_digits.get(slot).copied().unwrap_or('0'));
                }
            }
            Token::Point => {
                place_sign(&mut out, &mut sign_placed);
                after_point = true;
                out.push('.');
            }
            Token::Group => {
                if started || overflow {
                    out.push(',');
                } else if !fm {
                    out.push(' ');
                }
            }
            Token::Sign if anchored => {}
            Token::Sign => out.push(if negative { '-' } else { '+' }),
            Token::SignGlyph => out.push(if negative { '-' } else { '+' }),
            Token::Minus => {
                if negative {
                    out.push('-');
                } else if !fm {
                    out.push(' ');
                }
            }
            Token::Plus => {
                if !negative {
                    out.push('+');
                } else if !fm {
                    out.push(' ');
                }
            }
            // Handled before (a Roman numeral, scientific notation).
            Token::Brackets | Token::Roman(_) | Token::Exponent => {}
            Token::Text(s) => out.push_str(s),
        }
    }
    if !sign_placed {
        // No digit and no point printed (an all-blank integer part): the sign leads.
        out.insert(0, sign_char);
    }
    if tokens.contains(&Token::Brackets) {
        out = if negative {
            let lead = out.len() - out.trim_start().len();
            format!("{}<{}>", " ".repeat(lead), out.trim_start())
        } else if fm {
            out
        } else {
            format!(" {out} ")
        };
    }
    Ok(Value::Text(out))
}

/// `n` rounded to an integer as a Roman numeral; 15 `#` outside 1 to 3999.
fn roman(n: &crate::types::Numeric, lower: bool, fm: bool) -> String {
    let whole = Value::Numeric(n.round_to(0))
        .to_text()
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|v| (1..=3999).contains(v));
    let Some(mut v) = whole else {
        return "#".repeat(15);
    };
    const NUMERALS: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, glyphs) in NUMERALS {
        while v >= value {
            out.push_str(glyphs);
            v -= value;
        }
    }
    if lower {
        out = out.to_lowercase();
    }
    if fm {
        out
    } else {
        format!("{out:>15}")
    }
}

/// `n` in scientific notation for an `EEEE` format: as many fractional digits as the format
/// has after its point, the exponent that of the unrounded number, a blank or `-` first.
fn scientific(n: &crate::types::Numeric, tokens: &[Token], fm: bool) -> Result<String> {
    let plain = |t: &Token| {
        matches!(
            t,
            Token::Nine | Token::Zero | Token::Point | Token::Exponent
        )
    };
    if fm || !tokens.iter().all(plain) {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "\"EEEE\" is incompatible with other formats",
        )
        .with_detail("\"EEEE\" may only be used together with digit and decimal point patterns."));
    }
    let point = tokens.iter().position(|t| *t == Token::Point);
    let digits = |ts: &[Token]| {
        ts.iter()
            .filter(|t| matches!(t, Token::Nine | Token::Zero))
            .count()
    };
    let (pre, post) = match point {
        Some(p) => (
            digits(tokens.get(..p).unwrap_or_default()),
            digits(tokens.get(p + 1..).unwrap_or_default()),
        ),
        None => (digits(tokens), 0),
    };
    if !n.is_finite() {
        return Ok(format!(" {}.{}", "#".repeat(pre), "#".repeat(post + 4)));
    }
    let negative = n.signum() < 0;
    let text = Value::Numeric(if negative { n.neg() } else { n.clone() })
        .to_text()
        .unwrap_or_default();
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    let all: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    // The first significant digit, and the exponent it gives.
    let (exponent, significant): (i64, Vec<u8>) = match all.iter().position(|d| *d != 0) {
        None => (0, vec![0]),
        Some(first) => {
            let exponent = int_part.len() as i64 - 1 - first as i64;
            (exponent, all.get(first..).unwrap_or_default().to_vec())
        }
    };
    // Round to 1 + post digits, half away from zero; a carry may make the mantissa 10.
    let mut kept: Vec<u8> = significant.iter().copied().take(1 + post).collect();
    kept.resize(1 + post, 0);
    if significant.get(1 + post).is_some_and(|d| *d >= 5) {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if let Some(d) = kept.get_mut(i) {
                if *d == 9 {
                    *d = 0;
                } else {
                    *d += 1;
                    break;
                }
            }
        }
    }
    let lead = kept.len() - post;
    let mut out = String::from(if negative { "-" } else { " " });
    for (i, d) in kept.iter().enumerate() {
        if i == lead {
            out.push('.');
        }
        out.push(char::from(b'0' + d));
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    out.push_str(&format!("e{sign}{:02}", exponent.abs()));
    Ok(out)
}
