//! Definitions as PostgreSQL prints them: `pg_get_indexdef`, `pg_get_constraintdef`,
//! `pg_get_expr` of column defaults, `pg_get_viewdef`, and `quote_ident`.
//!
//! Expressions are stored as sqlparser's SQL text; simple ones (literals, columns compared with
//! constants, function calls) print as PostgreSQL's deparser prints them. PostgreSQL adds casts
//! Orbit does not (`CHECK (((name)::text <> ''::text))`), so complex expressions may differ.

use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::SystemSnapshot;
use crate::catalog::{ConstraintDef, IndexDef, TableDef, ViewDef};
use crate::types::{DataType, Value};

/// Keywords `quote_ident` quotes (PostgreSQL 15's reserved, column-name and type/function-name
/// keywords; unreserved ones need no quotes).
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// `quote_ident`: double-quotes a name unless it is a lower-case identifier and no keyword.
pub fn quote_ident(name: &str) -> String {
    let safe = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !KEYWORDS.contains(&name);
    if safe {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn column_names(t: &TableDef, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(
            |id| match t.column_by_id(*id).and_then(|i| t.columns.get(i)) {
                Some(c) => quote_ident(&c.name),
                None => format!("col{id}"),
            },
        )
        .collect()
}

/// `pg_get_indexdef(index, column)`: the CREATE INDEX statement (column 0) or the key
/// column's name (column n >= 1).
pub fn index_def(t: &TableDef, ix: &IndexDef, column: i32) -> Option<String> {
    let cols = column_names(t, &ix.columns);
    if column > 0 {
        return cols.get(usize::try_from(column - 1).ok()?).cloned();
    }
    // A vector index names its operator class unless it is pgvector's default (L2).
    let opclass = ix
        .ann
        .as_ref()
        .filter(|a| a.opclass != "vector_l2_ops")
        .map(|a| format!(" {}", a.opclass))
        .unwrap_or_default();
    Some(format!(
        "CREATE {}INDEX {} ON {}.{} USING {} ({}{opclass})",
        if ix.unique { "UNIQUE " } else { "" },
        quote_ident(&ix.name),
        quote_ident(&t.schema),
        quote_ident(&t.name),
        ix.method(),
        cols.join(", ")
    ))
}

fn action(c: char) -> Option<&'static str> {
    match c {
        'r' => Some("RESTRICT"),
        'c' => Some("CASCADE"),
        'n' => Some("SET NULL"),
        'd' => Some("SET DEFAULT"),
        _ => None,
    }
}

/// `pg_get_constraintdef(constraint, pretty)`.
pub fn constraint_def(
    snap: &SystemSnapshot,
    t: &TableDef,
    c: &ConstraintDef,
    pretty: bool,
) -> String {
    let index_cols = || {
        c.index
            .and_then(|id| t.indexes.iter().find(|ix| ix.id == id))
            .map(|ix| column_names(t, &ix.columns).join(", "))
            .unwrap_or_default()
    };
    match c.kind {
        'p' => format!("PRIMARY KEY ({})", index_cols()),
        'u' => format!("UNIQUE ({})", index_cols()),
        'c' => {
            let e = c.check.clone().unwrap_or_default();
            if pretty {
                format!("CHECK ({e})")
            } else {
                format!("CHECK (({e}))")
            }
        }
        'f' => {
            let Some(fk) = &c.foreign else {
                return String::new();
            };
            let target = snap
                .tables
                .iter()
                .find(|r| r.schema == fk.ref_schema && r.name == fk.ref_table);
            let (target_name, ref_cols) = match target {
                Some(r) => (
                    snap.regclass_text(r.oid),
                    column_names(r, &fk.ref_columns).join(", "),
                ),
                None => (quote_ident(&fk.ref_table), String::new()),
            };
            let mut s = format!(
                "FOREIGN KEY ({}) REFERENCES {target_name}({ref_cols})",
                column_names(t, &fk.columns).join(", ")
            );
            if let Some(a) = action(fk.on_update) {
                s.push_str(&format!(" ON UPDATE {a}"));
            }
            if let Some(a) = action(fk.on_delete) {
                s.push_str(&format!(" ON DELETE {a}"));
            }
            s
        }
        _ => String::new(),
    }
}

/// `pg_get_viewdef`: the view's query, as PostgreSQL returns it (a leading space, a `;`).
pub fn view_def(v: &ViewDef) -> String {
    query_def(&v.query)
}

/// A stored query's text as pg_get_viewdef shows it: a leading space, a closing `;`.
pub fn query_def(query: &str) -> String {
    format!(" {};", query.trim().trim_end_matches(';'))
}

fn parse_expr(text: &str) -> Option<ast::Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

/// The type name a constant's cast shows (`'x'::character varying`, `'-1'::integer`).
fn cast_name(ty: &DataType) -> String {
    match ty {
        DataType::Char(_) => "bpchar".into(),
        other => super::format_type(other.oid(), Some(-1)),
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A constant of type `ty` as PostgreSQL's deparser prints it: non-negative numbers and
/// booleans bare, everything else quoted with a cast.
fn constant(text: &str, ty: &DataType) -> String {
    // The constant keeps its own digits: typmods apply when a value is stored, not here.
    let ty = &match ty {
        DataType::Numeric(_) => DataType::Numeric(None),
        DataType::Varchar(_) => DataType::Varchar(None),
        DataType::Char(_) => DataType::Char(None),
        other => other.clone(),
    };
    let value = Value::parse_text(ty, text)
        .ok()
        .and_then(|v| v.to_text())
        .unwrap_or_else(|| text.to_string());
    let bare = match ty {
        DataType::Bool => true,
        t if t.is_numeric() && !matches!(t, DataType::Oid) => {
            !value.starts_with('-') && !value.contains(['N', 'I', 'n', 'i'])
        }
        _ => false,
    };
    if bare {
        value
    } else {
        format!("{}::{}", quote_literal(&value), cast_name(ty))
    }
}

/// `pg_get_expr(adbin, ...)` of a column default: the stored SQL with its constants typed as
/// PostgreSQL types them (`'abc'::text`, `'-1'::integer`, `0`).
pub fn default_expr(text: &str, ty: &DataType) -> String {
    let Some(e) = parse_expr(text) else {
        return text.to_string();
    };
    match &e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => {
                constant(s, ty)
            }
            ast::Value::Number(n, _) => constant(n, ty),
            ast::Value::Boolean(b) => constant(if *b { "true" } else { "false" }, ty),
            ast::Value::Null => "NULL".into(),
            _ => text.to_string(),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => constant(&format!("-{n}"), ty),
                _ => text.to_string(),
            },
            _ => text.to_string(),
        },
        _ => text.to_string(),
    }
}

/// The attnums of the columns a CHECK expression names (pg_constraint.conkey).
pub fn check_columns(t: &TableDef, text: &str) -> Vec<i16> {
    let mut names = Vec::new();
    if let Some(e) = parse_expr(text) {
        collect_idents(&e, &mut names);
    }
    let mut out: Vec<i16> = t
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| names.contains(&c.name))
        .map(|(i, _)| (i + 1) as i16)
        .collect();
    out.sort_unstable();
    out
}

fn collect_idents(e: &ast::Expr, out: &mut Vec<String>) {
    // Every identifier in the expression's text form is a candidate column name; walking
    // sqlparser's whole AST is not needed for that.
    let text = e.to_string();
    let mut cur = String::new();
    let mut in_string = false;
    for c in text.chars().chain(std::iter::once(' ')) {
        if c == '\'' {
            in_string = !in_string;
            cur.clear();
            continue;
        }
        if in_string {
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(cur.to_lowercase());
            cur.clear();
        }
    }
}
