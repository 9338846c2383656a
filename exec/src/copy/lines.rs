//! Splits COPY FROM input, which arrives in chunks cut anywhere, into records (lines).
//!
//! A record ends at a newline that is data in neither format: in text format a backslash
//! escapes the next byte (so `\` + newline is a newline inside a field); in CSV a newline
//! inside a quoted field is data. One `\r` before the ending newline is dropped (`\r\n`
//! files). Only the current partial record is buffered, so memory does not grow with the input.

use crate::error::{code, Error, Result};

/// A record longer than this is refused (PostgreSQL's limit is its 1 GB allocation size).
const MAX_RECORD: usize = 1 << 30;

#[derive(Debug, Clone, Copy)]
enum Mode {
    Text,
    /// `escape` is `None` when it is the quote itself (doubling is then a toggle twice).
    Csv {
        quote: u8,
        escape: Option<u8>,
    },
}

/// The record splitter of one COPY.
#[derive(Debug)]
pub(crate) struct Lines {
    mode: Mode,
    buf: Vec<u8>,
    /// Where the current (incomplete) record starts in `buf`.
    start: usize,
    /// Bytes of `buf` before this were scanned (the state below is as of here).
    scan: usize,
    /// Text: the previous byte was an unescaped backslash. CSV: PostgreSQL's `last_was_esc`.
    escaped: bool,
    /// CSV: inside a quoted field.
    in_quote: bool,
    /// Text: the last byte scanned was a `\r` escaped by a backslash (data, not a line end).
    cr_escaped: bool,
}

impl Lines {
    /// A splitter for text format.
    pub(crate) fn text() -> Lines {
        Lines::new(Mode::Text)
    }

    /// A splitter for CSV with these quote and escape characters.
    pub(crate) fn csv(quote: u8, escape: u8) -> Lines {
        Lines::new(Mode::Csv {
            quote,
            escape: (escape != quote).then_some(escape),
        })
    }

    fn new(mode: Mode) -> Lines {
        Lines {
            mode,
            buf: Vec::new(),
            start: 0,
            scan: 0,
            escaped: false,
            in_quote: false,
            cr_escaped: false,
        }
    }

    /// Appends a chunk of input.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        if self.buf.len() + data.len() > MAX_RECORD {
            return Err(Error::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                "COPY line is too long (more than 1 GB)",
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Where the record starting at `self.start` ends (its newline), scanning new bytes only.
    fn find_end(&mut self) -> Option<usize> {
        let bytes = self.buf.get(self.scan..)?;
        let mut end = None;
        let mut consumed = bytes.len();
        match self.mode {
            Mode::Text => {
                for (i, &b) in bytes.iter().enumerate() {
                    if self.escaped {
                        self.escaped = false;
                        self.cr_escaped = b == b'\r';
                        continue;
                    }
                    if b == b'\n' {
                        // `cr_escaped` still describes the byte before.
                        end = Some(i);
                        consumed = i + 1;
                        break;
                    }
                    self.cr_escaped = false;
                    self.escaped = b == b'\\';
                }
            }
            Mode::Csv { quote, escape } => {
                for (i, &b) in bytes.iter().enumerate() {
                    // PostgreSQL's CopyReadLineText: an escape only counts inside quotes and
                    // just before a quote, and not as the second of an escape-escape pair.
                    let is_escape = escape == Some(b);
                    if self.in_quote && is_escape {
                        self.escaped = !self.escaped;
                    }
                    if b == quote && !self.escaped {
                        self.in_quote = !self.in_quote;
                    }
                    if !is_escape {
                        self.escaped = false;
                    }
                    if b == b'\n' && !self.in_quote {
                        end = Some(i);
                        consumed = i + 1;
                        break;
                    }
                }
            }
        }
        self.scan += consumed;
        end.map(|i| self.scan - consumed + i)
    }

    /// The next complete record, without its line end.
    pub(crate) fn next_record(&mut self) -> Option<&[u8]> {
        let newline = self.find_end()?;
        let start = self.start;
        let mut end = newline;
        if end > start && self.buf.get(end - 1) == Some(&b'\r') && !self.cr_escaped {
            end -= 1;
        }
        self.start = newline + 1;
        self.escaped = false;
        self.in_quote = false;
        self.cr_escaped = false;
        self.buf.get(start..end)
    }

    /// After the last chunk: the final record if the input did not end with a newline.
    pub(crate) fn finish(&mut self) -> Option<&[u8]> {
        let start = self.start;
        self.start = self.buf.len();
        self.scan = self.buf.len();
        let mut end = self.buf.len();
        if end > start && self.buf.get(end - 1) == Some(&b'\r') && !self.cr_escaped {
            end -= 1;
        }
        if start >= self.buf.len() {
            return None;
        }
        self.buf.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(mut l: Lines, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for c in chunks {
            l.push(c).unwrap();
            while let Some(r) = l.next_record() {
                out.push(r.to_vec());
            }
        }
        if let Some(r) = l.finish() {
            out.push(r.to_vec());
        }
        out
    }

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect()
    }

    #[test]
    fn text_lines_across_chunks() {
        let got = split(Lines::text(), &[b"a\tb\nc", b"d\te\n", b"\nlast"]);
        assert_eq!(strs(got), ["a\tb", "cd\te", "", "last"]);
    }

    #[test]
    fn text_backslash_escapes_newline_even_across_chunks() {
        let got = split(Lines::text(), &[b"a\\", b"\nb\n", b"c\\\\\nd\n"]);
        assert_eq!(strs(got), ["a\\\nb", "c\\\\", "d"]);
    }

    #[test]
    fn crlf_is_one_line_end_but_an_escaped_cr_is_data() {
        let got = split(Lines::text(), &[b"a\r\nb\\\r\nc\r", b"\n"]);
        assert_eq!(strs(got), ["a", "b\\\r", "c"]);
    }

    #[test]
    fn csv_newlines_inside_quotes_are_data() {
        let got = split(
            Lines::csv(b'"', b'"'),
            &[b"1,\"x\n", b"y\"\n2,\"a\"\"\nb\"\r\n3,\"\"\n"],
        );
        assert_eq!(strs(got), ["1,\"x\ny\"", "2,\"a\"\"\nb\"", "3,\"\""]);
    }

    #[test]
    fn csv_with_a_separate_escape() {
        // With ESCAPE '\', `\"` inside quotes does not close the field.
        let got = split(Lines::csv(b'"', b'\\'), &[b"\"a\\\"\nb\"\nc\n"]);
        assert_eq!(strs(got), ["\"a\\\"\nb\"", "c"]);
    }

    #[test]
    fn no_trailing_record_after_a_final_newline() {
        assert_eq!(strs(split(Lines::text(), &[b"x\n"])), ["x"]);
        assert!(split(Lines::text(), &[b""]).is_empty());
    }
}
