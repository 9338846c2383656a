//! The shape of a SQL text: the text with its plain literals taken out, and the literals.
//!
//! Two texts with the same shape differ only in the contents of literals the tokenizer reads
//! as ordinary number and string tokens, so they parse to the same tree with different
//! values (the parse cache relies on it, and checks the tree once per shape).
//!
//! The scanner is deliberately narrow: a text holding anything whose tokenization it does not
//! mirror exactly has no shape and is parsed as usual. That is comments, dollar quoting,
//! prefixed strings (`E'..'`, `B'..'`, `X'..'`, `N'..'`, `U&'..'`), backslashes inside
//! strings, numbers with exponents or underscores, numbers touching a `.` or a name, and
//! control characters (the key uses them as literal markers).

/// A literal taken out of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Literal<'a> {
    /// Digits only (`42`).
    Integer(&'a str),
    /// Digits, a point and digits (`4.25`).
    Decimal(&'a str),
    /// The raw contents between the quotes of a `'...'` string (`''` still doubled).
    String(&'a str),
}

impl Literal<'_> {
    /// The key's marker for this kind of literal.
    fn marker(self) -> char {
        match self {
            Literal::Integer(_) => '\u{1}',
            Literal::Decimal(_) => '\u{2}',
            Literal::String(_) => '\u{3}',
        }
    }
}

/// A text's shape: `key` is the text with each literal replaced by its kind's marker.
#[derive(Debug)]
pub(crate) struct Shape<'a> {
    pub key: String,
    pub literals: Vec<Literal<'a>>,
    /// Where each literal sits in the text (byte range, quotes included for strings).
    pub spans: Vec<(usize, usize)>,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The shape of `sql`, or `None` when it holds something the scanner does not handle.
pub(crate) fn shape(sql: &str) -> Option<Shape<'_>> {
    let bytes = sql.as_bytes();
    // Control characters are the key's markers (and the cache's sentinels): none in the text,
    // quoted or not.
    if bytes
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
    {
        return None;
    }
    let mut key = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut spans = Vec::new();
    // Start of the verbatim run not yet copied into `key`.
    let mut copied = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'-' if bytes.get(i + 1) == Some(&b'-') => return None,
            b'/' if bytes.get(i + 1) == Some(&b'*') => return None,
            b'$' => {
                // `$1` parameters stay in the key; `$$` / `$tag$` quoting is not handled.
                let digits = count(bytes, i + 1, |c| c.is_ascii_digit());
                if digits == 0 {
                    return None;
                }
                i += 1 + digits;
            }
            b'"' => i = quoted_end(bytes, i, b'"')?,
            b'\'' => {
                let prefixed = i > 0
                    && bytes
                        .get(i - 1)
                        .is_some_and(|&p| is_name_byte(p) || p == b'&');
                if prefixed {
                    return None;
                }
                let end = quoted_end(bytes, i, b'\'')?;
                let inner = sql.get(i + 1..end - 1)?;
                if inner.contains('\\') {
                    return None;
                }
                push(sql, &mut key, &mut copied, (i, end), Literal::String(inner))?;
                literals.push(Literal::String(inner));
                spans.push((i, end));
                i = end;
            }
            b'0'..=b'9' => {
                if i > 0 && bytes.get(i - 1) == Some(&b'.') {
                    return None;
                }
                let mut end = i + count(bytes, i, |c| c.is_ascii_digit());
                let mut decimal = false;
                if bytes.get(end) == Some(&b'.') {
                    let frac = count(bytes, end + 1, |c| c.is_ascii_digit());
                    if frac == 0 {
                        return None;
                    }
                    end += 1 + frac;
                    decimal = true;
                }
                if bytes
                    .get(end)
                    .is_some_and(|&c| is_name_byte(c) || c == b'.')
                {
                    return None;
                }
                let text = sql.get(i..end)?;
                let literal = if decimal {
                    Literal::Decimal(text)
                } else {
                    Literal::Integer(text)
                };
                push(sql, &mut key, &mut copied, (i, end), literal)?;
                literals.push(literal);
                spans.push((i, end));
                i = end;
            }
            // A name (digits inside it are part of it).
            _ if is_name_byte(b) => i += count(bytes, i, is_name_byte),
            _ => i += 1,
        }
    }
    key.push_str(sql.get(copied..)?);
    Some(Shape {
        key,
        literals,
        spans,
    })
}

/// Copies the verbatim text before `span` into `key`, then the literal's marker.
fn push(
    sql: &str,
    key: &mut String,
    copied: &mut usize,
    span: (usize, usize),
    literal: Literal<'_>,
) -> Option<()> {
    key.push_str(sql.get(*copied..span.0)?);
    key.push(literal.marker());
    *copied = span.1;
    Some(())
}

/// How many bytes from `at` on satisfy `f`.
fn count(bytes: &[u8], at: usize, f: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(at..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| f(c)).count())
}

/// The end (one past the closing quote) of the `quote`-quoted text opening at `start`, where a
/// doubled quote stands for itself; `None` when unterminated.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            &c if c == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_taken_out() {
        let s =
            shape("SELECT abalance FROM t1 WHERE aid = 42 AND x > 1.5 AND n = 'it''s'").unwrap();
        assert_eq!(
            s.key,
            "SELECT abalance FROM t1 WHERE aid = \u{1} AND x > \u{2} AND n = \u{3}"
        );
        assert_eq!(
            s.literals,
            vec![
                Literal::Integer("42"),
                Literal::Decimal("1.5"),
                Literal::String("it''s")
            ]
        );
        let s = shape("UPDATE \"T 1\" SET \"c'2\" = -7 WHERE a = $1").unwrap();
        assert_eq!(s.key, "UPDATE \"T 1\" SET \"c'2\" = -\u{1} WHERE a = $1");
        assert_eq!(s.spans, vec![(26, 27)]);
    }

    #[test]
    fn same_shape_for_different_literals() {
        let a = shape("SELECT * FROM t WHERE id = 1 LIMIT 10").unwrap();
        let b = shape("SELECT * FROM t WHERE id = 123456 LIMIT 2").unwrap();
        assert_eq!(a.key, b.key);
        let c = shape("SELECT * FROM t WHERE id = 1.0 LIMIT 10").unwrap();
        assert_ne!(a.key, c.key);
    }

    #[test]
    fn what_the_scanner_does_not_mirror_has_no_shape() {
        for sql in [
            "SELECT 1 -- comment",
            "SELECT /* c */ 1",
            "SELECT $$x$$",
            "SELECT $tag$x$tag$",
            "SELECT E'a\\nb'",
            "SELECT B'101'",
            "SELECT x'1f'",
            "SELECT U&'d\\0061t'",
            "SELECT 'a\\b'",
            "SELECT 1e5",
            "SELECT 1_000",
            "SELECT .5",
            "SELECT 1.",
            "SELECT 1.2.3",
            "SELECT 'unterminated",
            "SELECT \"unterminated",
            "SELECT '\u{1}'",
            "SELECT \"\u{2}\"",
        ] {
            assert!(shape(sql).is_none(), "{sql}");
        }
    }
}
