//! The names PostgreSQL gives unaliased select items (`?column?`, a function's name, a
//! column's).

use sqlparser::ast;

/// The column name PostgreSQL gives an unaliased select item.
pub fn output_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(id) => crate::expr::ident_name(id),
        ast::Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(crate::expr::ident_name)
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(crate::expr::ident_name)
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Cast { expr, .. } => match expr.as_ref() {
            ast::Expr::Value(_) => "?column?".into(),
            inner => output_name(inner),
        },
        ast::Expr::Nested(inner) => output_name(inner),
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Position { .. } => "position".into(),
        ast::Expr::Trim { .. } => "btrim".into(),
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Array(_) => "array".into(),
        _ => "?column?".into(),
    }
}
