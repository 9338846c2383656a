//! PostgreSQL's COPY text format for one record: fields split at the delimiter, backslash
//! escapes (`\t \n \r \\ \b \f \v`, octal `\123`, hex `\x41`, any other character as itself),
//! the NULL string compared before unescaping, and the `\.` end-of-data marker. Output escapes
//! backslashes, the delimiter and control characters the same way.

use crate::error::{code, Error, Result};

/// What one input record held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The record held a row (its fields are in the output vector).
    pub row: bool,
    /// The record ended with the `\.` end-of-data marker: nothing after it is data.
    pub end: bool,
}

/// 22021 for a field that is not UTF-8 (or holds a zero byte, which text cannot).
pub(crate) fn invalid_utf8(bytes: &[u8]) -> Error {
    let at = match std::str::from_utf8(bytes) {
        Err(e) => e.valid_up_to(),
        Ok(s) => s.find('\0').unwrap_or(0),
    };
    let shown: Vec<String> = bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take(2)
        .map(|b| format!("{b:02x}"))
        .collect();
    Error::new(
        code::CHARACTER_NOT_IN_REPERTOIRE,
        format!(
            "invalid byte sequence for encoding \"UTF8\": 0x{}",
            shown.join(" 0x")
        ),
    )
}

/// `bytes` as a text value.
pub(crate) fn to_string(bytes: Vec<u8>) -> Result<String> {
    if bytes.contains(&0) {
        return Err(invalid_utf8(&bytes));
    }
    String::from_utf8(bytes).map_err(|e| invalid_utf8(e.as_bytes()))
}

fn bad_format(message: &str) -> Error {
    Error::new(code::BAD_COPY_FILE_FORMAT, message)
}

fn octal(b: u8) -> Option<u8> {
    matches!(b, b'0'..=b'7').then(|| b - b'0')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Splits `line` into `fields` (`None` for NULL).
pub(crate) fn decode(
    line: &[u8],
    delimiter: u8,
    null: &[u8],
    fields: &mut Vec<Option<String>>,
) -> Result<Decoded> {
    fields.clear();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        let mut end = false;
        let mut last = true;
        while let Some(&b) = line.get(i) {
            i += 1;
            if b == delimiter {
                last = false;
                break;
            }
            match b {
                b'\\' => {
                    let Some(&c) = line.get(i) else {
                        break; // a backslash ending the data is dropped, as PostgreSQL does
                    };
                    i += 1;
                    match c {
                        b'.' if i == line.len() => {
                            end = true;
                            break;
                        }
                        b'.' => return Err(bad_format("end-of-copy marker corrupt")),
                        b'0'..=b'7' => {
                            let mut v = u32::from(c - b'0');
                            for _ in 0..2 {
                                match line.get(i).copied().and_then(octal) {
                                    Some(d) => {
                                        v = v * 8 + u32::from(d);
                                        i += 1;
                                    }
                                    None => break,
                                }
                            }
                            value.push((v & 0xff) as u8);
                        }
                        b'x' => match line.get(i).copied().and_then(hex) {
                            Some(d) => {
                                i += 1;
                                let mut v = d;
                                if let Some(e) = line.get(i).copied().and_then(hex) {
                                    v = v * 16 + e;
                                    i += 1;
                                }
                                value.push(v);
                            }
                            None => value.push(b'x'),
                        },
                        b'b' => value.push(0x08),
                        b'f' => value.push(0x0c),
                        b'n' => value.push(b'\n'),
                        b'r' => value.push(b'\r'),
                        b't' => value.push(b'\t'),
                        b'v' => value.push(0x0b),
                        other => value.push(other),
                    }
                }
                b'\r' => {
                    return Err(bad_format("literal carriage return found in data")
                        .with_detail("Use \"\\r\" to represent carriage return."))
                }
                b'\n' => {
                    return Err(bad_format("literal newline found in data")
                        .with_detail("Use \"\\n\" to represent newline."))
                }
                other => value.push(other),
            }
        }
        if end {
            // `\.` ends the data; what preceded it on the line is a last row.
            let before = i - 2;
            if before == 0 {
                fields.clear();
                return Ok(Decoded {
                    row: false,
                    end: true,
                });
            }
            fields.push(field(line.get(start..before), value, null)?);
            return Ok(Decoded {
                row: true,
                end: true,
            });
        }
        let raw_end = if last { i } else { i - 1 };
        fields.push(field(line.get(start..raw_end), value, null)?);
        if last {
            return Ok(Decoded {
                row: true,
                end: false,
            });
        }
    }
}

/// A field: NULL when its raw text is the NULL string, else the unescaped value.
fn field(raw: Option<&[u8]>, value: Vec<u8>, null: &[u8]) -> Result<Option<String>> {
    if raw == Some(null) {
        return Ok(None);
    }
    to_string(value).map(Some)
}

/// Appends `s` escaped for text format with `delimiter`.
pub(crate) fn encode_field(s: &str, delimiter: u8, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        let escaped = match b {
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            0x0b => Some(b'v'),
            b'\\' => Some(b'\\'),
            _ if b == delimiter => Some(b),
            _ => None,
        };
        match escaped {
            Some(e) => {
                out.push(b'\\');
                out.push(e);
            }
            None => out.push(b),
        }
    }
}

/// Appends one record (`None` is NULL) and its newline.
pub(crate) fn encode_record(fields: &[Option<&str>], delimiter: u8, null: &str, out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        match f {
            Some(s) => encode_field(s, delimiter, out),
            None => out.extend_from_slice(null.as_bytes()),
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> (Vec<Option<String>>, Decoded) {
        let mut f = Vec::new();
        let d = decode(line.as_bytes(), b'\t', b"\\N", &mut f).unwrap();
        (f, d)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn splits_fields_and_nulls() {
        let (f, d) = fields("1\t\\N\t\tx");
        assert_eq!(f, vec![s("1"), None, s(""), s("x")]);
        assert_eq!(
            d,
            Decoded {
                row: true,
                end: false
            }
        );
        // An empty line is one empty field.
        assert_eq!(fields("").0, vec![s("")]);
    }

    #[test]
    fn unescapes_like_postgres() {
        let (f, _) = fields(r"a\tb\nc\\d\rz\b\f\v\101\x41\x4a\x\N\q\	e");
        assert_eq!(f, vec![s("a\tb\nc\\d\rz\u{8}\u{c}\u{b}AAJxNq\te")]);
        // Octal takes at most three digits; hex at most two.
        assert_eq!(fields(r"\1011\x411").0, vec![s("A1A1")]);
        // The NULL string is compared before unescaping: an escaped \N is the letter N.
        assert_eq!(fields(r"\\N").0, vec![s(r"\N")]);
    }

    #[test]
    fn end_marker() {
        assert_eq!(
            fields(r"\.").1,
            Decoded {
                row: false,
                end: true
            }
        );
        let (f, d) = fields("1\tx\\.");
        assert_eq!(f, vec![s("1"), s("x")]);
        assert_eq!(
            d,
            Decoded {
                row: true,
                end: true
            }
        );
        let mut v = Vec::new();
        let e = decode(br"a\.b", b'\t', b"\\N", &mut v).unwrap_err();
        assert_eq!(e.sqlstate(), "22P04");
    }

    #[test]
    fn bad_bytes_are_22021() {
        let mut v = Vec::new();
        let e = decode(b"\xff", b'\t', b"\\N", &mut v).unwrap_err();
        assert_eq!(e.sqlstate(), "22021");
        let e = decode(br"a\000", b'\t', b"\\N", &mut v).unwrap_err();
        assert_eq!(e.sqlstate(), "22021");
        let e = decode(b"a\rb", b'\t', b"\\N", &mut v).unwrap_err();
        assert_eq!(e.sqlstate(), "22P04");
    }

    #[test]
    fn encodes_like_postgres() {
        let mut out = Vec::new();
        encode_record(
            &[Some("a\tb\\c\nd\re\u{8}\u{c}\u{b}\u{1}|"), None, Some("")],
            b'\t',
            "\\N",
            &mut out,
        );
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re\\b\\f\\v\x01|\t\\N\t\n");
        out.clear();
        encode_record(&[Some("a|b"), Some("c")], b'|', "\\N", &mut out);
        assert_eq!(out, b"a\\|b|c\n");
    }
}
