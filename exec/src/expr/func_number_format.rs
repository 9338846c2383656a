//! `to_char(number, format)` with PostgreSQL's numeric template patterns: `9` (a digit, blank
//! when it would be a leading zero), `0` (a digit, zeros kept; zero filling goes on from the
//! first `0`), `.`/`D` (the decimal point), `,`/`G` (a group separator, blank before the first
//! digit), `FM` (no padding, trailing zeros of `9` positions dropped), the signs `S`, `MI`, `PL`,
//! `SG`, `PR`, and `"quoted"` text. Without a sign pattern a minus (or a blank) goes right
//! before the first digit. A number with more integer digits than the format has gives `#`
//! in every digit position, as PostgreSQL does. The number is rounded half away from zero to
//! the format's fractional digits.

use crate::error::Result;
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
            Token::Brackets => {}
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
