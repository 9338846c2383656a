//! The grammar of COPY, PostgreSQL's way: `COPY table [(cols)] | (query) FROM | TO
//! STDIN | STDOUT | 'file' | PROGRAM 'cmd' [[WITH] (option [value], ...)]`, the generic
//! option list taking any value PostgreSQL takes (`FREEZE on`, `HEADER 1`, `FORMAT csv`), and
//! the pre-9.0 forms (`WITH DELIMITER ','`, `CSV HEADER QUOTE '"'`).
//!
//! The statement becomes sqlparser's `Statement::Copy` with every option (legacy ones
//! included) in `options`; data after `FROM STDIN;` is never taken from the query text.

use sqlparser::ast::{self, CopyOption, CopySource, CopyTarget, Ident};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{IsOptional, Parser};
use sqlparser::tokenizer::Token;

use crate::error::{Error, Result};
use crate::parse::syntax_error;

/// A generic option's value (`copy_generic_opt_arg`).
enum Arg {
    None,
    /// An unquoted word (lower-cased), a quoted identifier, a string or a number.
    Text(String),
    /// A number (for booleans `1` / `0`).
    Number(String),
    Star,
    /// A parenthesized list (only FORCE_* take one; they are refused).
    List,
}

/// Parses the rest of a COPY statement (the COPY keyword is consumed).
pub(crate) fn parse_copy(p: &mut Parser<'_>) -> Result<ast::Statement> {
    let source = if p.consume_token(&Token::LParen) {
        let q = p.parse_query().map_err(syntax_error)?;
        p.expect_token(&Token::RParen).map_err(syntax_error)?;
        CopySource::Query(q)
    } else {
        let table_name = p.parse_object_name(false).map_err(syntax_error)?;
        let columns = p
            .parse_parenthesized_column_list(IsOptional::Optional, false)
            .map_err(syntax_error)?;
        CopySource::Table {
            table_name,
            columns,
        }
    };
    let to = match p.parse_one_of_keywords(&[Keyword::FROM, Keyword::TO]) {
        Some(Keyword::TO) => true,
        Some(_) => false,
        None => {
            return p
                .expected("FROM or TO", p.peek_token())
                .map_err(syntax_error)
        }
    };
    if !to && matches!(source, CopySource::Query(_)) {
        return Err(Error::syntax("COPY (query) FROM is not supported"));
    }
    // PostgreSQL takes STDIN and STDOUT alike as "the client".
    let target = if p
        .parse_one_of_keywords(&[Keyword::STDIN, Keyword::STDOUT])
        .is_some()
    {
        if to {
            CopyTarget::Stdout
        } else {
            CopyTarget::Stdin
        }
    } else if p.parse_keyword(Keyword::PROGRAM) {
        CopyTarget::Program {
            command: p.parse_literal_string().map_err(syntax_error)?,
        }
    } else {
        CopyTarget::File {
            filename: p.parse_literal_string().map_err(syntax_error)?,
        }
    };
    let with = p.parse_keyword(Keyword::WITH);
    let options = if p.consume_token(&Token::LParen) {
        let mut options = Vec::new();
        loop {
            options.push(generic_option(p)?);
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen).map_err(syntax_error)?;
        options
    } else {
        legacy_options(p, with)?
    };
    if p.parse_keyword(Keyword::WHERE) {
        return Err(Error::unsupported("COPY FROM ... WHERE is not supported"));
    }
    Ok(ast::Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options: Vec::new(),
        payload: None,
    })
}

/// One `name [value]` of the parenthesized option list.
fn generic_option(p: &mut Parser<'_>) -> Result<CopyOption> {
    let tok = p.next_token();
    let name = match &tok.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_lowercase(),
        Token::Word(w) => w.value.clone(),
        _ => return p.expected("a COPY option", tok).map_err(syntax_error),
    };
    let arg = option_arg(p)?;
    let text = |arg: Arg| match arg {
        Arg::Text(s) | Arg::Number(s) => Ok(s),
        _ => Err(Error::syntax(format!("{name} requires a parameter"))),
    };
    let one_char = |s: String, what: &str| {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(Error::unsupported(format!(
                "COPY {what} must be a single one-byte character"
            ))),
        }
    };
    Ok(match name.as_str() {
        "format" => CopyOption::Format(Ident::new(text(arg)?)),
        "freeze" => CopyOption::Freeze(boolean(&name, arg)?),
        "header" => CopyOption::Header(boolean(&name, arg)?),
        "delimiter" => CopyOption::Delimiter(one_char(text(arg)?, "delimiter")?),
        "null" => CopyOption::Null(text(arg)?),
        "quote" => CopyOption::Quote(one_char(text(arg)?, "quote")?),
        "escape" => CopyOption::Escape(one_char(text(arg)?, "escape")?),
        "encoding" => CopyOption::Encoding(text(arg)?),
        "force_quote" | "force_not_null" | "force_null" | "default" => {
            return Err(Error::unsupported(format!(
                "COPY {} is not supported",
                name.to_uppercase()
            )))
        }
        _ => return Err(Error::syntax(format!("option \"{name}\" not recognized"))),
    })
}

/// The value after a generic option's name, if any.
fn option_arg(p: &mut Parser<'_>) -> Result<Arg> {
    let tok = p.peek_token();
    let arg = match &tok.token {
        Token::Comma | Token::RParen => return Ok(Arg::None),
        Token::Word(w) if w.quote_style.is_none() => Arg::Text(w.value.to_lowercase()),
        Token::Word(w) => Arg::Text(w.value.clone()),
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => Arg::Text(s.clone()),
        Token::Number(n, _) => Arg::Number(n.clone()),
        Token::Mul => Arg::Star,
        Token::LParen => {
            p.next_token();
            p.parse_comma_separated(|p| p.parse_identifier())
                .map_err(syntax_error)?;
            p.expect_token(&Token::RParen).map_err(syntax_error)?;
            return Ok(Arg::List);
        }
        _ => return p.expected("an option value", tok).map_err(syntax_error),
    };
    p.next_token();
    Ok(arg)
}

/// A Boolean option value as PostgreSQL's `defGetBoolean` reads it.
fn boolean(name: &str, arg: Arg) -> Result<bool> {
    let word = match arg {
        Arg::None => return Ok(true),
        Arg::Text(s) | Arg::Number(s) => s.to_lowercase(),
        Arg::Star | Arg::List => String::new(),
    };
    match word.as_str() {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        "match" if name == "header" => {
            Err(Error::unsupported("COPY HEADER MATCH is not supported"))
        }
        _ if name == "header" => Err(Error::syntax(
            "header requires a Boolean value or \"match\"",
        )),
        _ => Err(Error::syntax(format!("{name} requires a Boolean value"))),
    }
}

/// A single-character option of the old syntax (`DELIMITER [AS] ','`).
fn legacy_char(p: &mut Parser<'_>, what: &str) -> Result<char> {
    let _ = p.parse_keyword(Keyword::AS);
    let s = p.parse_literal_string().map_err(syntax_error)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(Error::unsupported(format!(
            "COPY {what} must be a single one-byte character"
        ))),
    }
}

/// The pre-9.0 option words, in any order.
fn legacy_options(p: &mut Parser<'_>, with: bool) -> Result<Vec<CopyOption>> {
    const WORDS: &[Keyword] = &[
        Keyword::BINARY,
        Keyword::FREEZE,
        Keyword::DELIMITER,
        Keyword::NULL,
        Keyword::CSV,
        Keyword::HEADER,
        Keyword::QUOTE,
        Keyword::ESCAPE,
        Keyword::FORCE,
        Keyword::ENCODING,
    ];
    let mut out = Vec::new();
    while let Some(k) = p.parse_one_of_keywords(WORDS) {
        out.push(match k {
            Keyword::BINARY => CopyOption::Format(Ident::new("binary")),
            Keyword::FREEZE => CopyOption::Freeze(true),
            Keyword::DELIMITER => CopyOption::Delimiter(legacy_char(p, "delimiter")?),
            Keyword::NULL => {
                let _ = p.parse_keyword(Keyword::AS);
                CopyOption::Null(p.parse_literal_string().map_err(syntax_error)?)
            }
            Keyword::CSV => CopyOption::Format(Ident::new("csv")),
            Keyword::HEADER => CopyOption::Header(true),
            Keyword::QUOTE => CopyOption::Quote(legacy_char(p, "quote")?),
            Keyword::ESCAPE => CopyOption::Escape(legacy_char(p, "escape")?),
            Keyword::ENCODING => {
                CopyOption::Encoding(p.parse_literal_string().map_err(syntax_error)?)
            }
            _ => return Err(Error::unsupported("COPY FORCE options are not supported")),
        });
    }
    if with && out.is_empty() {
        return p
            .expected("COPY options after WITH", p.peek_token())
            .map_err(syntax_error);
    }
    Ok(out)
}
