//! `CREATE TABLE name [(col, ...)] AS query` and `SELECT ... INTO name`: a table with the
//! query's columns (its names, or those listed; its types, `unknown` becoming text), filled by
//! the query, in the statement's own transaction like any DDL. The command tag is `SELECT n`,
//! as PostgreSQL's. Both steps run as the statements they amount to (CREATE TABLE with the
//! column definitions, then INSERT ... query), so every rule of those applies unchanged.

use sqlparser::ast;

use super::{query, Ctx, Outcome};
use crate::catalog::system::quote_ident;
use crate::error::{code, Error, Result};
use crate::expr::ident_name;
use crate::types::DataType;

/// What the new table is called and how it is made.
pub struct Target {
    pub name: ast::ObjectName,
    /// Names given for the first columns (the rest keep the query's).
    pub columns: Vec<String>,
    pub if_not_exists: bool,
}

/// `CREATE TABLE ... AS` of a parsed CREATE TABLE carrying a query.
pub fn from_create(ctx: &mut Ctx<'_>, ct: &ast::CreateTable, q: &ast::Query) -> Result<Outcome> {
    let target = Target {
        name: ct.name.clone(),
        columns: ct.columns.iter().map(|c| ident_name(&c.name)).collect(),
        if_not_exists: ct.if_not_exists,
    };
    run(ctx, &target, q)
}

/// Whether `q` is a `SELECT ... INTO name` (which makes a table).
pub fn is_select_into(q: &ast::Query) -> bool {
    matches!(q.body.as_ref(), ast::SetExpr::Select(s) if s.into.is_some())
}

/// `SELECT ... INTO name ...`: the query without its INTO, as CREATE TABLE AS.
pub fn from_select_into(ctx: &mut Ctx<'_>, q: &ast::Query) -> Result<Outcome> {
    let into = match q.body.as_ref() {
        ast::SetExpr::Select(s) => s.into.as_ref(),
        _ => None,
    };
    let Some(into) = into else {
        return Err(internal("SELECT INTO without INTO"));
    };
    let name = match into.targets.as_slice() {
        [ast::Expr::Identifier(id)] => ast::ObjectName::from(vec![id.clone()]),
        [ast::Expr::CompoundIdentifier(ids)] => ast::ObjectName::from(ids.clone()),
        _ => return Err(Error::syntax(format!("SELECT {into} names no table"))),
    };
    let mut plain = q.clone();
    if let ast::SetExpr::Select(s) = plain.body.as_mut() {
        s.into = None;
    }
    let target = Target {
        name,
        columns: Vec::new(),
        if_not_exists: false,
    };
    run(ctx, &target, &plain)
}

fn run(ctx: &mut Ctx<'_>, target: &Target, q: &ast::Query) -> Result<Outcome> {
    let plan = query::plan_query(ctx, q)?;
    let Some((name, names)) = make_table(ctx, target, &plan.columns)? else {
        return Ok(Outcome::Command("CREATE TABLE AS".into()));
    };
    let columns: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
    let insert = format!("INSERT INTO {name} ({}) {q}", columns.join(", "));
    let ast::Statement::Insert(ins) = only(&insert)? else {
        return Err(internal("CREATE TABLE AS: not an INSERT"));
    };
    let tag = match super::dml::insert(ctx, &ins, false)? {
        Outcome::Command(tag) => tag,
        _ => return Err(internal("CREATE TABLE AS: INSERT returned rows")),
    };
    let n = tag.rsplit(' ').next().unwrap_or("0");
    Ok(Outcome::Command(format!("SELECT {n}")))
}

/// Creates `target`'s table with a query's result `columns` (as CREATE TABLE with column
/// definitions does): its quoted qualified name and its column names. `None` when it exists
/// already and `target.if_not_exists`.
pub(super) fn make_table(
    ctx: &mut Ctx<'_>,
    target: &Target,
    plan_columns: &[super::Column],
) -> Result<Option<(String, Vec<String>)>> {
    if target.columns.len() > plan_columns.len() {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "too many column names were specified",
        ));
    }
    let names: Vec<String> = plan_columns
        .iter()
        .enumerate()
        .map(|(i, c)| target.columns.get(i).unwrap_or(&c.name).clone())
        .collect();
    let defs: Vec<String> = names
        .iter()
        .zip(plan_columns)
        .map(|(n, c)| format!("{} {}", quote_ident(n), type_sql(&c.ty)))
        .collect();
    let (schema, table) = ctx.qualify_new(&target.name)?;
    if target.if_not_exists && super::ddl_index::relation_exists(ctx, &schema, &table)? {
        return Ok(None);
    }
    let name = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
    let create = format!("CREATE TABLE {name} ({})", defs.join(", "));
    let ast::Statement::CreateTable(ct) = only(&create)? else {
        return Err(internal("CREATE TABLE AS: not a CREATE TABLE"));
    };
    super::ddl::run(ctx, &ast::Statement::CreateTable(ct))?;
    Ok(Some((name, names)))
}

/// The one statement `sql` holds.
fn only(sql: &str) -> Result<ast::Statement> {
    let mut stmts = crate::parse::parse(sql)?;
    match (stmts.pop(), stmts.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(internal("CREATE TABLE AS: one statement expected")),
    }
}

/// A column type as CREATE TABLE takes it: a query's `unknown` (an untyped literal or NULL)
/// makes a text column, as in PostgreSQL.
fn type_sql(ty: &DataType) -> String {
    match ty {
        DataType::Unknown => "text".into(),
        DataType::Char(None) => "bpchar".into(),
        other => other.display(),
    }
}

fn internal(what: &str) -> Error {
    Error::new(code::INTERNAL_ERROR, what.to_string())
}
