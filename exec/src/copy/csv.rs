//! PostgreSQL's COPY CSV format for one record: fields split at the delimiter outside quotes,
//! quoted sections (with the escape character, by default the quote itself doubled), an
//! unquoted field equal to the NULL string is NULL (so by default an empty unquoted field is
//! NULL and `""` is an empty string). Output quotes a field when it must, as PostgreSQL does.

use super::text::to_string;
use crate::error::{code, Error, Result};

/// The CSV characters of one COPY.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Csv {
    pub delimiter: u8,
    pub quote: u8,
    pub escape: u8,
}

impl Csv {
    /// Whether `line` is the `\.` end-of-data marker (alone on its line, unquoted).
    pub(crate) fn is_end_marker(line: &[u8]) -> bool {
        line == b"\\."
    }

    /// Splits `line` into `fields` (`None` for NULL).
    pub(crate) fn decode(
        &self,
        line: &[u8],
        null: &[u8],
        fields: &mut Vec<Option<String>>,
    ) -> Result<()> {
        fields.clear();
        let mut i = 0;
        loop {
            let start = i;
            let mut value = Vec::new();
            let mut quoted = false;
            let mut last = true;
            'field: while let Some(&b) = line.get(i) {
                i += 1;
                if b == self.delimiter {
                    last = false;
                    break;
                }
                if b != self.quote {
                    value.push(b);
                    continue;
                }
                quoted = true;
                loop {
                    let Some(&c) = line.get(i) else {
                        return Err(Error::new(
                            code::BAD_COPY_FILE_FORMAT,
                            "unterminated CSV quoted field",
                        ));
                    };
                    i += 1;
                    if c == self.escape {
                        if let Some(&next) = line.get(i) {
                            if next == self.escape || next == self.quote {
                                value.push(next);
                                i += 1;
                                continue;
                            }
                        }
                    }
                    if c == self.quote {
                        continue 'field;
                    }
                    value.push(c);
                }
            }
            let raw_end = if last { i } else { i - 1 };
            if !quoted && line.get(start..raw_end) == Some(null) {
                fields.push(None);
            } else {
                fields.push(Some(to_string(value)?));
            }
            if last {
                return Ok(());
            }
        }
    }

    /// Appends `s` as one CSV field; `single` says it is the record's only field (a lone
    /// `\.` must then be quoted, or it would read back as the end marker).
    pub(crate) fn encode_field(&self, s: &str, null: &str, single: bool, out: &mut Vec<u8>) {
        let needs_quotes = s == null
            || (single && s == "\\.")
            || s.bytes()
                .any(|b| b == self.delimiter || b == self.quote || b == b'\n' || b == b'\r');
        if !needs_quotes {
            out.extend_from_slice(s.as_bytes());
            return;
        }
        out.push(self.quote);
        for &b in s.as_bytes() {
            if b == self.quote || b == self.escape {
                out.push(self.escape);
            }
            out.push(b);
        }
        out.push(self.quote);
    }

    /// Appends one record (`None` is NULL) and its newline.
    pub(crate) fn encode_record(&self, fields: &[Option<&str>], null: &str, out: &mut Vec<u8>) {
        let single = fields.len() == 1;
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            match f {
                Some(s) => self.encode_field(s, null, single, out),
                None => out.extend_from_slice(null.as_bytes()),
            }
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Csv = Csv {
        delimiter: b',',
        quote: b'"',
        escape: b'"',
    };

    fn fields(c: &Csv, line: &str) -> Vec<Option<String>> {
        let mut f = Vec::new();
        c.decode(line.as_bytes(), b"", &mut f).unwrap();
        f
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn quotes_nulls_and_empty_strings() {
        assert_eq!(
            fields(
                &CSV,
                r#"1,,"",a"b""c"d,"x,y","l1
l2""""#
            ),
            vec![s("1"), None, s(""), s("ab\"cd"), s("x,y"), s("l1\nl2\"")]
        );
        assert_eq!(fields(&CSV, ""), vec![None]);
        assert_eq!(fields(&CSV, ","), vec![None, None]);
        // Backslashes mean nothing in CSV.
        assert_eq!(fields(&CSV, r"a\,\N"), vec![s(r"a\"), s(r"\N")]);
    }

    #[test]
    fn separate_escape_character() {
        let c = Csv {
            escape: b'\\',
            ..CSV
        };
        assert_eq!(fields(&c, r#""a\"b\\c\d""#), vec![s(r#"a"b\c\d"#)]);
    }

    #[test]
    fn unterminated_quote_is_22p04() {
        let mut f = Vec::new();
        let e = CSV.decode(b"1,\"abc", b"", &mut f).unwrap_err();
        assert_eq!(e.sqlstate(), "22P04");
    }

    #[test]
    fn encodes_like_postgres() {
        let mut out = Vec::new();
        CSV.encode_record(
            &[
                Some("plain"),
                None,
                Some(""),
                Some("a,b"),
                Some("q\"q"),
                Some("l\nl"),
                Some("\\."),
            ],
            "",
            &mut out,
        );
        assert_eq!(out, b"plain,,\"\",\"a,b\",\"q\"\"q\",\"l\nl\",\\.\n");
        out.clear();
        CSV.encode_record(&[Some("\\.")], "", &mut out);
        assert_eq!(out, b"\"\\.\"\n");
    }
}
