//! SQL text to statements: sqlparser's PostgreSQL dialect, with PostgreSQL's own grammar for
//! the utility statements sqlparser reads differently:
//!
//! - COPY (`copy::syntax`): the generic option list with PostgreSQL's values (`FREEZE on`),
//!   and no inline data: sqlparser reads the lines after `COPY ... FROM STDIN;` as psql-script
//!   data, but over the wire they are further statements.
//! - VACUUM and ANALYZE (`VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [table
//!   [(cols)], ...]`, `ANALYZE [VERBOSE] [table [(cols)], ...]`): sqlparser has Redshift's and
//!   Hive's forms. They become `Statement::Vacuum` / `Statement::Analyze` naming their table
//!   when exactly one is given.
//!
//! - CHECKPOINT, which sqlparser lacks: it becomes `Statement::Flush` of tables (MySQL's
//!   FLUSH TABLES, which no PostgreSQL text parses to), see [`is_checkpoint`].
//!
//! Everything else goes to sqlparser's statement parser, one statement at a time. Parses go
//! through a per-thread cache by text shape (`cache`, `shape`).

mod cache;
mod shape;

use std::sync::Arc;

use std::ops::ControlFlow;

use sqlparser::ast::{self, VisitMut, VisitorMut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Result};

/// PostgreSQL's syntax-error form of a sqlparser error (the parser's text as DETAIL).
pub(crate) fn syntax_error(e: ParserError) -> Error {
    let text = e.to_string();
    let near = text
        .split("found: ")
        .nth(1)
        .and_then(|r| r.split(" at Line").next())
        .map(str::trim)
        .unwrap_or("");
    if near.is_empty() || near == "EOF" {
        Error::syntax("syntax error at end of input")
    } else {
        Error::syntax(format!("syntax error at or near \"{near}\""))
    }
    .with_detail(text)
}

/// Parses SQL text into statements, with PostgreSQL's syntax-error form.
pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
    parse_shared(sql).map(|s| Arc::try_unwrap(s).unwrap_or_else(|s| Vec::clone(&s)))
}

/// [`parse`], sharing the parse cache's statements instead of copying them: for a caller
/// that only reads them (and drops them before the next parse of the same shape, or pays
/// for a copy then).
pub fn parse_shared(sql: &str) -> Result<Arc<Vec<ast::Statement>>> {
    cache::parse(sql, parse_uncached)
}

/// `parse` without the cache.
fn parse_uncached(sql: &str) -> Result<Vec<ast::Statement>> {
    let dialect = PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(e.into()))?;
    join_l1_operator(&mut tokens);
    if let Some(split) = copy_data_split(sql, &tokens) {
        let mut out = parse(sql.get(..split).unwrap_or_default())?;
        out.extend(parse(sql.get(split..).unwrap_or_default())?);
        return Ok(out);
    }
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut out = statements(&mut p)?;
    let _ = out.visit(&mut SimilarTo);
    Ok(out)
}

/// Rewrites `x [NOT] SIMILAR TO p [ESCAPE e]` as PostgreSQL's parser does, into
/// `x [!]~ similar_to_escape(p [, e])`: a regular-expression match.
struct SimilarTo;

impl VisitorMut for SimilarTo {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
        let ast::Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } = e
        else {
            return ControlFlow::Continue(());
        };
        let arg = |x: &ast::Expr| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x.clone()));
        let mut args = vec![arg(pattern)];
        args.extend(escape_char.as_deref().map(arg));
        let call = ast::Expr::Function(ast::Function {
            name: ast::ObjectName::from(vec![ast::Ident::new("similar_to_escape")]),
            uses_odbc_syntax: false,
            parameters: ast::FunctionArguments::None,
            args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args,
                clauses: Vec::new(),
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: Vec::new(),
        });
        let op = match negated {
            true => ast::BinaryOperator::PGRegexNotMatch,
            false => ast::BinaryOperator::PGRegexMatch,
        };
        // Parenthesized: `~` binds as loosely as `=`, SIMILAR TO more tightly, and the
        // statement may be printed and parsed again (a view's text).
        *e = ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
            left: expr.clone(),
            op,
            right: Box::new(call),
        }));
        ControlFlow::Continue(())
    }
}

/// pgvector's L1 distance operator `<+>`: sqlparser's tokenizer reads it as `<`, `+`, `>`;
/// three such tokens written without spaces become one custom operator, as `<#>` already is.
fn join_l1_operator(tokens: &mut Vec<TokenWithSpan>) {
    let mut i = 0;
    while i + 2 < tokens.len() {
        let adjacent = |a: &TokenWithSpan, b: &TokenWithSpan| {
            a.span.end.line == b.span.start.line && a.span.end.column == b.span.start.column
        };
        if matches!(tokens[i].token, Token::Lt)
            && matches!(tokens[i + 1].token, Token::Plus)
            && matches!(tokens[i + 2].token, Token::Gt)
            && adjacent(&tokens[i], &tokens[i + 1])
            && adjacent(&tokens[i + 1], &tokens[i + 2])
        {
            let span = tokens[i].span.union(&tokens[i + 2].span);
            tokens.splice(
                i..i + 3,
                [TokenWithSpan::new(
                    Token::CustomBinaryOperator("<+>".into()),
                    span,
                )],
            );
        }
        i += 1;
    }
}

/// Where to cut `sql` so no part holds inline COPY data: just after the `;` that follows
/// `COPY ... FROM STDIN` when the tokenizer took the lines after it as data.
fn copy_data_split(sql: &str, tokens: &[TokenWithSpan]) -> Option<usize> {
    let at = tokens
        .iter()
        .position(|t| matches!(t.token, Token::CopyData { .. }))?;
    let semicolon = tokens
        .get(at + 1..)?
        .iter()
        .find(|t| t.token == Token::SemiColon)?;
    offset(sql, semicolon.span.end).filter(|&o| o > 0 && o < sql.len())
}

/// The byte offset of a tokenizer location (1-based line and character column).
fn offset(sql: &str, loc: Location) -> Option<usize> {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in sql.char_indices() {
        if line == loc.line && col == loc.column {
            return Some(i);
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line == loc.line && col == loc.column).then_some(sql.len())
}

/// sqlparser's statement loop, with COPY, VACUUM and ANALYZE parsed here.
fn statements(p: &mut Parser<'_>) -> Result<Vec<ast::Statement>> {
    let mut out = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while p.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        match &p.peek_token_ref().token {
            Token::EOF => break,
            Token::Word(w) if expecting_delimiter && w.keyword == Keyword::END => break,
            _ => {}
        }
        if expecting_delimiter {
            return p
                .expected("end of statement", p.peek_token())
                .map_err(syntax_error);
        }
        if matches!(&p.peek_token_ref().token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("checkpoint"))
        {
            p.next_token();
            out.push(checkpoint());
            expecting_delimiter = true;
            continue;
        }
        let stmt =
            match p.parse_one_of_keywords(&[Keyword::COPY, Keyword::VACUUM, Keyword::ANALYZE]) {
                Some(Keyword::COPY) => crate::copy::syntax::parse_copy(p)?,
                Some(Keyword::VACUUM) => vacuum(p)?,
                Some(_) => analyze(p)?,
                None => {
                    let mut stmt = p.parse_statement().map_err(syntax_error)?;
                    if let ast::Statement::CreateView(cv) = &mut stmt {
                        if cv.materialized {
                            with_data(p, cv);
                        }
                    }
                    stmt
                }
            };
        out.push(stmt);
        expecting_delimiter = true;
    }
    Ok(out)
}

/// PostgreSQL's CHECKPOINT, carried as a FLUSH of tables with nothing named.
fn checkpoint() -> ast::Statement {
    ast::Statement::Flush {
        object_type: ast::FlushType::Tables,
        location: None,
        channel: None,
        read_lock: false,
        export: false,
        tables: Vec::new(),
    }
}

/// Whether `stmt` is a CHECKPOINT.
pub fn is_checkpoint(stmt: &ast::Statement) -> bool {
    *stmt == checkpoint()
}

/// What `CREATE MATERIALIZED VIEW ... AS query` may end with and sqlparser leaves:
/// `WITH DATA` (the default) or `WITH NO DATA`, recorded for [`with_no_data`].
fn with_data(p: &mut Parser<'_>, cv: &mut ast::CreateView) {
    if p.parse_keywords(&[Keyword::WITH, Keyword::NO, Keyword::DATA]) {
        // PostgreSQL's CREATE MATERIALIZED VIEW has no COMMENT clause (sqlparser takes one
        // for Snowflake only), so the field is free to carry this; NUL cannot come from SQL.
        cv.comment = Some(NO_DATA.into());
    } else {
        let _ = p.parse_keywords(&[Keyword::WITH, Keyword::DATA]);
    }
}

const NO_DATA: &str = "\0WITH NO DATA";

/// Whether a parsed CREATE MATERIALIZED VIEW said `WITH NO DATA`.
pub fn with_no_data(cv: &ast::CreateView) -> bool {
    cv.comment.as_deref() == Some(NO_DATA)
}

/// The tables of a VACUUM or ANALYZE (`table [(cols)], ...`; none means every table).
fn table_list(p: &mut Parser<'_>) -> Result<Vec<ast::ObjectName>> {
    let mut tables = Vec::new();
    if matches!(p.peek_token_ref().token, Token::SemiColon | Token::EOF) {
        return Ok(tables);
    }
    loop {
        tables.push(p.parse_object_name(false).map_err(syntax_error)?);
        if p.consume_token(&Token::LParen) {
            p.parse_comma_separated(|p| p.parse_identifier())
                .map_err(syntax_error)?;
            p.expect_token(&Token::RParen).map_err(syntax_error)?;
        }
        if !p.consume_token(&Token::Comma) {
            return Ok(tables);
        }
    }
}

/// Skips a parenthesized option list (`(VERBOSE, ANALYZE on, PARALLEL 4)`); returns whether
/// it turned ANALYZE on.
fn skip_options(p: &mut Parser<'_>) -> Result<bool> {
    if !p.consume_token(&Token::LParen) {
        return Ok(false);
    }
    let mut depth = 1;
    let mut analyze = false;
    // The option whose value may follow: (name, tokens since it).
    let mut last: Option<(String, usize)> = None;
    while depth > 0 {
        let t = p.next_token();
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::EOF | Token::SemiColon => {
                return p.expected(")", t).map_err(syntax_error);
            }
            Token::Comma => last = None,
            other if depth == 1 => {
                let word = other.to_string().to_ascii_lowercase();
                match &last {
                    None => {
                        analyze |= word == "analyze";
                        last = Some((word, 0));
                    }
                    Some((name, 0)) if name == "analyze" => {
                        if matches!(word.as_str(), "off" | "false" | "0") {
                            analyze = false;
                        }
                        last = Some((name.clone(), 1));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    Ok(analyze)
}

/// The one table a maintenance statement names (several: none, they are not checked).
fn single(tables: Vec<ast::ObjectName>) -> Option<ast::ObjectName> {
    let mut tables = tables;
    (tables.len() == 1).then(|| tables.pop()).flatten()
}

/// `VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [tables]` (VACUUM consumed).
fn vacuum(p: &mut Parser<'_>) -> Result<ast::Statement> {
    let mut analyze = skip_options(p)?;
    let mut full = false;
    while let Some(k) = p.parse_one_of_keywords(&[
        Keyword::FULL,
        Keyword::FREEZE,
        Keyword::VERBOSE,
        Keyword::ANALYZE,
    ]) {
        full |= k == Keyword::FULL;
        analyze |= k == Keyword::ANALYZE;
    }
    let tables = table_list(p)?;
    if analyze {
        return Ok(analyze_of(tables, true));
    }
    Ok(ast::Statement::Vacuum(ast::VacuumStatement {
        full,
        sort_only: false,
        delete_only: false,
        reindex: false,
        recluster: false,
        table_name: single(tables),
        threshold: None,
        boost: false,
    }))
}

/// `ANALYZE [(options)] [VERBOSE] [tables]` (ANALYZE consumed).
fn analyze(p: &mut Parser<'_>) -> Result<ast::Statement> {
    skip_options(p)?;
    let _ = p.parse_keyword(Keyword::VERBOSE);
    let tables = table_list(p)?;
    Ok(analyze_of(tables, false))
}

/// The statement for ANALYZE of `tables` (none: every table). sqlparser's `Analyze` names
/// at most one table, so every table named travels in `partitions`, as identifiers;
/// `compute_statistics` marks `VACUUM ANALYZE` (whose command tag is VACUUM).
fn analyze_of(tables: Vec<ast::ObjectName>, vacuum: bool) -> ast::Statement {
    let partitions = tables
        .into_iter()
        .map(|t| {
            ast::Expr::CompoundIdentifier(
                t.0.into_iter()
                    .filter_map(|part| part.as_ident().cloned())
                    .collect(),
            )
        })
        .collect();
    ast::Statement::Analyze(ast::Analyze {
        table_name: None,
        partitions: Some(partitions),
        for_columns: false,
        columns: Vec::new(),
        cache_metadata: false,
        noscan: false,
        compute_statistics: vacuum,
        has_table_keyword: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> ast::Statement {
        let mut v = parse(sql).unwrap();
        assert_eq!(v.len(), 1, "{sql}");
        v.pop().unwrap()
    }

    #[test]
    fn copy_options_postgres_style() {
        let ast::Statement::Copy {
            options,
            target,
            to,
            ..
        } = one("copy pgbench_accounts from stdin with (freeze on)")
        else {
            panic!()
        };
        assert_eq!(options, vec![ast::CopyOption::Freeze(true)]);
        assert_eq!(target, ast::CopyTarget::Stdin);
        assert!(!to);
        let ast::Statement::Copy { options, .. } = one(
            "COPY t (a, b) FROM STDIN (FORMAT csv, HEADER 1, DELIMITER ';', NULL 'x', \
             QUOTE '''', ESCAPE E'\\\\', FREEZE false)",
        ) else {
            panic!()
        };
        assert_eq!(
            options,
            vec![
                ast::CopyOption::Format(ast::Ident::new("csv")),
                ast::CopyOption::Header(true),
                ast::CopyOption::Delimiter(';'),
                ast::CopyOption::Null("x".into()),
                ast::CopyOption::Quote('\''),
                ast::CopyOption::Escape('\\'),
                ast::CopyOption::Freeze(false),
            ]
        );
    }

    #[test]
    fn copy_legacy_options() {
        let ast::Statement::Copy { options, .. } =
            one("COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ';' NULL AS ''")
        else {
            panic!()
        };
        assert_eq!(
            options,
            vec![
                ast::CopyOption::Format(ast::Ident::new("csv")),
                ast::CopyOption::Header(true),
                ast::CopyOption::Delimiter(';'),
                ast::CopyOption::Null(String::new()),
            ]
        );
    }

    #[test]
    fn copy_errors_are_postgres_errors() {
        let code = |sql: &str| parse(sql).unwrap_err().sqlstate();
        assert_eq!(code("COPY t FROM STDIN (DELIMITER 'ab')"), "0A000");
        assert_eq!(code("COPY t FROM STDIN (HEADER maybe)"), "42601");
        assert_eq!(code("COPY t FROM STDIN (BOGUS 1)"), "42601");
        assert_eq!(code("COPY t FROM"), "42601");
    }

    #[test]
    fn lines_after_copy_from_stdin_are_statements() {
        let v =
            parse("COPY t FROM STDIN; SELECT 1;\nSELECT 2;\nCOPY u FROM STDIN;\nSELECT 3").unwrap();
        assert_eq!(v.len(), 5);
        assert!(matches!(v[0], ast::Statement::Copy { payload: None, .. }));
        assert!(matches!(v[1], ast::Statement::Query(_)));
        assert!(matches!(v[3], ast::Statement::Copy { payload: None, .. }));
        assert!(matches!(v[4], ast::Statement::Query(_)));
        let v = parse("SELECT 1; SELECT 2").unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn checkpoint_is_a_statement_of_its_own() {
        for sql in ["CHECKPOINT", "checkpoint;", " Checkpoint ; "] {
            let stmts = parse(sql).unwrap();
            assert!(matches!(stmts.as_slice(), [s] if is_checkpoint(s)), "{sql}");
        }
        let stmts = parse("SELECT 1; CHECKPOINT; SELECT 2").unwrap();
        assert_eq!(stmts.iter().filter(|s| is_checkpoint(s)).count(), 1);
        assert!(parse("CHECKPOINT now").is_err(), "nothing may follow it");
        // A quoted name is an identifier, as in PostgreSQL (not a statement at all here).
        assert!(parse("\"checkpoint\"").is_err());
        assert!(!is_checkpoint(&parse("VACUUM").unwrap()[0]));
    }

    #[test]
    fn vacuum_and_analyze() {
        let tables = |s: ast::Statement| match s {
            ast::Statement::Analyze(a) => {
                let names = a.partitions.unwrap_or_default();
                (
                    names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                    a.compute_statistics,
                )
            }
            other => panic!("{other}"),
        };
        assert_eq!(
            tables(one("vacuum analyze pgbench_branches")),
            (vec!["pgbench_branches".to_string()], true)
        );
        assert_eq!(
            tables(one("VACUUM (VERBOSE, ANALYZE) a (x, y), s.b")),
            (vec!["a".to_string(), "s.b".to_string()], true)
        );
        assert!(matches!(
            one("VACUUM (ANALYZE off, VERBOSE) a"),
            ast::Statement::Vacuum(_)
        ));
        let ast::Statement::Vacuum(v) = one("VACUUM (VERBOSE) a, b") else {
            panic!()
        };
        assert!(v.table_name.is_none());
        assert!(matches!(one("VACUUM"), ast::Statement::Vacuum(_)));
        assert_eq!(
            tables(one("ANALYZE VERBOSE t")),
            (vec!["t".to_string()], false)
        );
        assert_eq!(tables(one("ANALYZE")), (vec![], false));
        assert!(parse("VACUUM t u").is_err());
    }
}
#[cfg(test)]
mod l1_operator {
    #[test]
    fn l1_distance_operator_parses_and_spaced_tokens_do_not_join() {
        let s = super::parse("SELECT a <+> '[1]' FROM t").expect("parse");
        assert!(s[0].to_string().contains("a <+> '[1]'"), "{}", s[0]);
        assert!(super::parse("SELECT a < + > 1").is_err());
    }
}
