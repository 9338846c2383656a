//! COPY between tables and the client: `COPY t [(cols)] FROM STDIN` and `COPY t | (query) TO
//! STDOUT`, in PostgreSQL's text and CSV formats.
//!
//! This module owns the options (`CopyOptions`, validated as PostgreSQL's
//! `ProcessCopyOptions` does). Submodules: `syntax` (the COPY statement's grammar, called by
//! `parse`), `lines` (splitting a byte stream that arrives in chunks into records), `text` and
//! `csv` (one record to fields and back), `from` (fields to rows written through the INSERT
//! path), `to` (rows to output lines). The session drives `from` as CopyData arrives.
//!
//! Invariants: input is parsed as it arrives, never held whole (only the current partial
//! record is buffered); errors carry PostgreSQL's SQLSTATE and a CONTEXT naming the line.

pub(crate) mod csv;
pub mod from;
pub(crate) mod lines;
pub(crate) mod syntax;
pub(crate) mod text;
pub mod to;

use sqlparser::ast;

use crate::error::{code, Error, Result};

pub use from::CopyFrom;
pub use to::Encoder;

/// The data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
}

/// The options of one COPY, with PostgreSQL's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    pub format: Format,
    pub delimiter: u8,
    /// The string that stands for NULL (`\N` in text, empty in CSV).
    pub null: String,
    /// A header line: skipped on input, the column names on output.
    pub header: bool,
    /// CSV only: the quote and escape characters.
    pub quote: u8,
    pub escape: u8,
    /// Accepted and ignored: rows are not frozen in an LSM (there are no tuple headers).
    pub freeze: bool,
}

fn conflicting() -> Error {
    Error::syntax("conflicting or redundant options")
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(code::INVALID_PARAMETER_VALUE, message)
}

/// `c` as the single byte PostgreSQL requires of a COPY delimiter, quote or escape.
fn one_byte(c: char, what: &str) -> Result<u8> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        Error::unsupported(format!("COPY {what} must be a single one-byte character"))
    })
}

impl CopyOptions {
    /// The options of `COPY ... (options)`.
    pub fn new(options: &[ast::CopyOption]) -> Result<CopyOptions> {
        let mut format = None;
        let (mut delimiter, mut null, mut header) = (None, None, None);
        let (mut quote, mut escape, mut freeze) = (None, None, None);
        fn set<T>(slot: &mut Option<T>, v: T) -> Result<()> {
            if slot.replace(v).is_some() {
                return Err(conflicting());
            }
            Ok(())
        }
        for o in options {
            match o {
                ast::CopyOption::Format(f) => set(
                    &mut format,
                    match f.value.as_str() {
                        "text" => Format::Text,
                        "csv" => Format::Csv,
                        "binary" => {
                            return Err(Error::unsupported(
                                "COPY BINARY is not supported; use FORMAT text or csv",
                            ))
                        }
                        other => {
                            return Err(invalid(format!("COPY format \"{other}\" not recognized")))
                        }
                    },
                )?,
                ast::CopyOption::Freeze(b) => set(&mut freeze, *b)?,
                ast::CopyOption::Delimiter(c) => set(&mut delimiter, one_byte(*c, "delimiter")?)?,
                ast::CopyOption::Null(s) => set(&mut null, s.clone())?,
                ast::CopyOption::Header(b) => set(&mut header, *b)?,
                ast::CopyOption::Quote(c) => set(&mut quote, one_byte(*c, "quote")?)?,
                ast::CopyOption::Escape(c) => set(&mut escape, one_byte(*c, "escape")?)?,
                ast::CopyOption::Encoding(e) => {
                    let e = e.to_uppercase().replace(['-', '_'], "");
                    if e != "UTF8" && e != "UNICODE" {
                        return Err(Error::unsupported(
                            "COPY ENCODING other than UTF8 is not supported",
                        ));
                    }
                }
                ast::CopyOption::ForceQuote(_)
                | ast::CopyOption::ForceNotNull(_)
                | ast::CopyOption::ForceNull(_) => {
                    return Err(Error::unsupported(format!("COPY {o} is not supported")));
                }
            }
        }
        let format = format.unwrap_or(Format::Text);
        let csv = format == Format::Csv;
        let delimiter = delimiter.unwrap_or(if csv { b',' } else { b'\t' });
        let null = null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() });
        if delimiter == b'\n' || delimiter == b'\r' {
            return Err(invalid(
                "COPY delimiter cannot be newline or carriage return",
            ));
        }
        if null.contains(['\n', '\r']) {
            return Err(invalid(
                "COPY null representation cannot use newline or carriage return",
            ));
        }
        if !csv && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&delimiter) {
            return Err(invalid(format!(
                "COPY delimiter cannot be \"{}\"",
                char::from(delimiter)
            )));
        }
        if !csv && quote.is_some() {
            return Err(Error::unsupported("COPY quote available only in CSV mode"));
        }
        if !csv && escape.is_some() {
            return Err(Error::unsupported("COPY escape available only in CSV mode"));
        }
        let quote = quote.unwrap_or(b'"');
        let escape = escape.unwrap_or(quote);
        if csv && delimiter == quote {
            return Err(invalid("COPY delimiter and quote must be different"));
        }
        if null.as_bytes().contains(&delimiter) {
            return Err(invalid(
                "COPY delimiter must not appear in the NULL specification",
            ));
        }
        if csv && null.as_bytes().contains(&quote) {
            return Err(invalid(
                "CSV quote character must not appear in the NULL specification",
            ));
        }
        // PostgreSQL 15 accepts (and ignores) FREEZE on COPY TO as well.
        let freeze = freeze.unwrap_or(false);
        Ok(CopyOptions {
            format,
            delimiter,
            null,
            header: header.unwrap_or(false),
            quote,
            escape,
            freeze,
        })
    }
}

/// `s` shortened for an error's CONTEXT as PostgreSQL does (`limit_printout_length`: 100
/// bytes, then `...`).
pub(crate) fn printout(s: &str) -> String {
    const MAX: usize = 100;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The "not supported" error for COPY to or from a server file or program.
pub(crate) fn no_files() -> Error {
    Error::unsupported(
        "COPY to or from a file is not supported; use COPY FROM STDIN / TO STDOUT (psql's \\copy)",
    )
}

#[cfg(test)]
mod tests;
