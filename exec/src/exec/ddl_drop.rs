//! DROP TABLE, DROP SCHEMA and DROP SEQUENCE (DROP INDEX, VIEW and DATABASE are dispatched to
//! their own modules): dependent views and foreign keys refuse a plain DROP (2BP01) and go
//! with CASCADE; a dropped table's data is one range delete, its sequences go at commit.

use sqlparser::ast;

use super::ddl::{clear_table, drop_owned_sequences};
use super::{Ctx, Outcome};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};

pub(super) fn drop(
    ctx: &mut Ctx<'_>,
    object_type: &ast::ObjectType,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> Result<Outcome> {
    match object_type {
        ast::ObjectType::Index => super::ddl_index::drop_index(ctx, names, if_exists),
        ast::ObjectType::View => super::ddl_view::drop_view(ctx, names, if_exists),
        ast::ObjectType::Database => super::ddl_database::drop_database(ctx, names, if_exists),
        ast::ObjectType::MaterializedView => {
            super::ddl_matview::drop(ctx, names, if_exists, cascade)
        }
        ast::ObjectType::Table => {
            for n in names {
                let (schema, name) = ctx.qualify(n)?;
                match ctx.catalog().table(&schema, &name)? {
                    Some(t) => {
                        super::ddl_matview::refuse_as_table(&t, "")?;
                        drop_table(ctx, &t, cascade)?;
                    }
                    None if ctx.catalog().view(&schema, &name)?.is_some() => {
                        return Err(Error::new(
                            code::WRONG_OBJECT_TYPE,
                            format!("\"{name}\" is not a table (use DROP VIEW to remove a view)"),
                        ))
                    }
                    None if if_exists => {}
                    None => {
                        return Err(Error::new(
                            code::UNDEFINED_TABLE,
                            format!("table \"{name}\" does not exist"),
                        ))
                    }
                }
            }
            Ok(Outcome::Command("DROP TABLE".into()))
        }
        ast::ObjectType::Schema => {
            for n in names {
                let name = n.to_string().trim_matches('"').to_string();
                if !ctx.catalog().schema_exists(&name)? {
                    if if_exists {
                        continue;
                    }
                    return Err(Error::new(
                        code::UNDEFINED_SCHEMA,
                        format!("schema \"{name}\" does not exist"),
                    ));
                }
                let tables: Vec<TableDef> = ctx
                    .catalog()
                    .tables()?
                    .into_iter()
                    .filter(|t| t.schema == name)
                    .collect();
                if !tables.is_empty() && !cascade {
                    return Err(Error::new(
                        code::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!("cannot drop schema {name} because other objects depend on it"),
                    ));
                }
                for t in tables {
                    clear_table(ctx, &t)?;
                    ctx.catalog().delete_table(&t.schema, &t.name)?;
                }
                ctx.catalog().drop_schema(&name)?;
            }
            Ok(Outcome::Command("DROP SCHEMA".into()))
        }
        ast::ObjectType::Sequence => {
            for n in names {
                let (schema, name) = ctx.qualify(n)?;
                let full = ctx.sequence_name(&schema, &name);
                if !ctx.engine.sequences.exists(&full)? {
                    if if_exists {
                        continue;
                    }
                    return Err(Error::new(
                        code::UNDEFINED_TABLE,
                        format!("sequence \"{name}\" does not exist"),
                    ));
                }
                // A serial or identity column's sequence goes only with CASCADE, which
                // leaves the column without its default.
                let owners: Vec<(TableDef, usize)> = ctx
                    .catalog()
                    .tables()?
                    .into_iter()
                    .filter_map(|t| {
                        let i = t
                            .columns
                            .iter()
                            .position(|c| c.sequence.as_deref() == Some(full.as_str()))?;
                        Some((t, i))
                    })
                    .collect();
                // A column only linked by OWNED BY (no default of its own) does not object.
                let blocking = owners
                    .iter()
                    .find(|(t, i)| t.columns.get(*i).is_some_and(|c| c.default.is_some()));
                if let (Some((t, i)), false) = (blocking, cascade) {
                    return Err(Error::new(
                        code::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!("cannot drop sequence {name} because other objects depend on it"),
                    )
                    .with_detail(format!(
                        "default value for column {} of table {} depends on sequence {name}",
                        t.columns[*i].name, t.name
                    )));
                }
                for (mut t, i) in owners {
                    if let Some(c) = t.columns.get_mut(i) {
                        c.sequence = None;
                        c.default = None;
                        c.identity = false;
                        c.identity_always = false;
                    }
                    ctx.catalog().put_table(&t)?;
                }
                ctx.engine.sequences.drop(&full, &mut ctx.waits)?;
            }
            Ok(Outcome::Command("DROP SEQUENCE".into()))
        }
        other => Err(Error::unsupported(format!(
            "DROP {other} is not supported yet"
        ))),
    }
}

/// Drops table `t` (a materialized view too): the views and materialized views over it
/// refuse a plain drop (2BP01) and go with `cascade`, as do other tables' foreign keys to it;
/// its rows are one range delete, its sequences go at commit.
pub(super) fn drop_table(ctx: &mut Ctx<'_>, t: &TableDef, cascade: bool) -> Result<()> {
    let views = super::ddl_view::dependent_views(ctx, t)?;
    let matviews = dependent_matviews(ctx, t)?;
    let first = views
        .first()
        .map(|v| format!("view {}", v.name))
        .or_else(|| {
            matviews
                .first()
                .map(|m| format!("materialized view {}", m.name))
        });
    if let (Some(first), false) = (first, cascade) {
        // Named as PostgreSQL does: qualified when off the search path.
        let shown = if ctx.search_path.contains(&t.schema) {
            t.name.clone()
        } else {
            format!("{}.{}", t.schema, t.name)
        };
        let kind = match t.matview {
            Some(_) => "materialized view",
            None => "table",
        };
        return Err(Error::new(
            code::DEPENDENT_OBJECTS_STILL_EXIST,
            format!("cannot drop {kind} {shown} because other objects depend on it"),
        )
        .with_detail(format!("{first} depends on {kind} {shown}")));
    }
    for v in &views {
        ctx.catalog().delete_view(&v.schema, &v.name)?;
    }
    for m in &matviews {
        // Gone already if it depended on another of them.
        if let Some(m) = ctx.catalog().table(&m.schema, &m.name)? {
            drop_table(ctx, &m, true)?;
        }
    }
    // Other tables' foreign keys to it: refused unless CASCADE drops them.
    let dropping = super::ddl_key::Dropping::Table;
    super::ddl_key::drop_referencing_keys(ctx, t, &dropping, cascade, |_| true)?;
    clear_table(ctx, t)?;
    ctx.catalog().delete_table(&t.schema, &t.name)?;
    drop_owned_sequences(ctx, t)
}

/// The materialized views whose query names table `t` (not `t` itself).
pub(super) fn dependent_matviews(ctx: &mut Ctx<'_>, t: &TableDef) -> Result<Vec<TableDef>> {
    let on_path = ctx.search_path.contains(&t.schema);
    Ok(ctx
        .catalog()
        .tables()?
        .into_iter()
        .filter(|m| {
            m.oid != t.oid
                && m.matview
                    .as_ref()
                    .is_some_and(|mv| super::ddl_view::names_table(&mv.query, t, on_path))
        })
        .collect())
}
