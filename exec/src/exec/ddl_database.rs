//! CREATE DATABASE and DROP DATABASE. Databases are namespaces of one storage (see
//! `catalog`): creating one records it; dropping one removes its tables' rows, its catalog
//! entries and its sequences. Neither may run inside a transaction block, as in PostgreSQL.

use sqlparser::ast;

use super::{Ctx, Outcome};
use crate::catalog::{Catalog, DatabaseDef, DEFAULT_DATABASE};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;

fn database_name(name: &ast::ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [one] => one
            .as_ident()
            .map(ident_name)
            .ok_or_else(|| Error::syntax(format!("invalid database name {name}"))),
        _ => Err(Error::syntax(format!("invalid database name {name}"))),
    }
}

pub fn create_database(
    ctx: &mut Ctx<'_>,
    name: &ast::ObjectName,
    if_not_exists: bool,
) -> Result<Outcome> {
    let name = database_name(name)?;
    if ctx.catalog().database_exists(&name)? {
        if if_not_exists {
            return Ok(Outcome::Command("CREATE DATABASE".into()));
        }
        return Err(Error::new(
            code::DUPLICATE_DATABASE,
            format!("database \"{name}\" already exists"),
        ));
    }
    let oid = ctx.engine.next_oid(&mut ctx.waits)?;
    ctx.catalog().put_database(
        Some(&DatabaseDef {
            name: name.clone(),
            oid,
        }),
        &name,
    )?;
    Ok(Outcome::Command("CREATE DATABASE".into()))
}

pub fn drop_database(
    ctx: &mut Ctx<'_>,
    names: &[ast::ObjectName],
    if_exists: bool,
) -> Result<Outcome> {
    for n in names {
        let name = database_name(n)?;
        if name == ctx.database {
            return Err(Error::new(
                code::OBJECT_IN_USE,
                "cannot drop the currently open database",
            ));
        }
        if name == DEFAULT_DATABASE {
            return Err(Error::unsupported(format!(
                "database \"{DEFAULT_DATABASE}\" cannot be dropped"
            )));
        }
        if !ctx.catalog().database_exists(&name)? {
            if if_exists {
                continue;
            }
            return Err(Error::new(
                code::UNDEFINED_DATABASE,
                format!("database \"{name}\" does not exist"),
            ));
        }
        let others = ctx.engine.sessions_in(&name);
        if others > 0 {
            return Err(Error::new(
                code::OBJECT_IN_USE,
                format!("database \"{name}\" is being accessed by other users"),
            )
            .with_detail(format!(
                "There {} {others} other session{} using the database.",
                if others == 1 { "is" } else { "are" },
                if others == 1 { "" } else { "s" }
            )));
        }
        let tables = Catalog::in_database(ctx.txn, ctx.engine.catalog, &name).tables()?;
        for t in &tables {
            let start = crate::row::table_prefix(t.id);
            let end = super::query::successor(&start);
            ctx.txn.delete_range(ctx.engine.data, &start, &end)?;
            super::ddl::drop_owned_sequences(ctx, t)?;
        }
        Catalog::in_database(ctx.txn, ctx.engine.catalog, &name).clear_namespace()?;
        ctx.catalog().put_database(None, &name)?;
    }
    Ok(Outcome::Command("DROP DATABASE".into()))
}
