//! FOREIGN KEY constraints: their definition (the referenced key must be the parent's
//! primary key or a unique index), the check on child rows written, and the ON DELETE /
//! ON UPDATE actions (NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT) on parent rows.
//!
//! A child row's check reads the parent row with a write intent, so a concurrent delete of
//! that parent and the child's insert cannot both commit (one gets a serialization error);
//! PostgreSQL takes a KEY SHARE lock for the same purpose. Checks are immediate (not
//! deferrable).

use sqlparser::ast;

use super::Ctx;
use crate::catalog::{ConstraintDef, ForeignKey, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::{ident_name, Expr};
use crate::row::{append_key, index_prefix};
use crate::types::{BinaryOp, Value};

fn action(a: Option<ast::ReferentialAction>) -> char {
    match a {
        Some(ast::ReferentialAction::Restrict) => 'r',
        Some(ast::ReferentialAction::Cascade) => 'c',
        Some(ast::ReferentialAction::SetNull) => 'n',
        Some(ast::ReferentialAction::SetDefault) => 'd',
        Some(ast::ReferentialAction::NoAction) | None => 'a',
    }
}

/// Adds FOREIGN KEY `fk` to `table` (the caller stores it). With `validate`, existing rows
/// must already satisfy it.
pub fn add_foreign_key(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    fk: &ast::ForeignKeyConstraint,
    validate: bool,
) -> Result<()> {
    let (schema, name) = ctx.qualify(&fk.foreign_table)?;
    let parent = if schema == table.schema && name == table.name {
        table.clone()
    } else {
        match ctx.catalog().table(&schema, &name)? {
            Some(p) => {
                super::ddl_matview::refuse_as_table(&p, "referenced relation ")?;
                p
            }
            None => return Err(super::query::no_table(&name)),
        }
    };
    let col_ids = |t: &TableDef, names: &[ast::Ident]| -> Result<Vec<u32>> {
        names
            .iter()
            .map(|n| {
                let n = ident_name(n);
                t.column_index(&n).map(|i| t.columns[i].id).ok_or_else(|| {
                    Error::new(
                        code::UNDEFINED_COLUMN,
                        format!(
                            "column \"{n}\" referenced in foreign key constraint does not exist"
                        ),
                    )
                })
            })
            .collect()
    };
    let columns = col_ids(table, &fk.columns)?;
    let ref_columns = if fk.referred_columns.is_empty() {
        parent.primary_key.clone()
    } else {
        col_ids(&parent, &fk.referred_columns)?
    };
    let keyed = |ids: &[u32]| {
        let mut a = ids.to_vec();
        a.sort_unstable();
        let mut b = ref_columns.clone();
        b.sort_unstable();
        a == b
    };
    let unique = !ref_columns.is_empty()
        && (keyed(&parent.primary_key)
            || parent.indexes.iter().any(|i| i.unique && keyed(&i.columns)));
    if !unique {
        return Err(Error::new(
            code::INVALID_FOREIGN_KEY,
            format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                parent.name
            ),
        ));
    }
    if columns.len() != ref_columns.len() {
        return Err(Error::new(
            code::INVALID_FOREIGN_KEY,
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    for (c, r) in columns.iter().zip(&ref_columns) {
        let ct = column_type(table, *c);
        let rt = column_type(&parent, *r);
        if crate::types::result_type(BinaryOp::Eq, &ct, &rt).is_err() {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!("foreign key constraint cannot be implemented: incompatible types {ct} and {rt}"),
            ));
        }
    }
    let col_names: Vec<String> = columns.iter().map(|c| column_name(table, *c)).collect();
    let name = match &fk.name {
        Some(n) => ident_name(n),
        None => format!("{}_{}_fkey", table.name, col_names.join("_")),
    };
    let def = ConstraintDef {
        name,
        oid: ctx.engine.next_oid(&mut ctx.waits)?,
        kind: 'f',
        check: None,
        index: None,
        foreign: Some(ForeignKey {
            columns,
            ref_schema: schema,
            ref_table: parent.name.clone(),
            ref_columns,
            on_delete: action(fk.on_delete),
            on_update: action(fk.on_update),
        }),
    };
    table.constraints.push(def.clone());
    if validate {
        let rows = super::query::scan_rows(ctx, table, &super::query::Access::Full, false)?;
        for (_, row) in rows {
            check_one(ctx, table, &def, &row, Some(&parent))?;
        }
    }
    Ok(())
}

fn column_type(t: &TableDef, id: u32) -> crate::types::DataType {
    t.column_by_id(id)
        .and_then(|i| t.columns.get(i))
        .map(|c| c.ty.clone())
        .unwrap_or(crate::types::DataType::Unknown)
}

fn column_name(t: &TableDef, id: u32) -> String {
    t.column_by_id(id)
        .and_then(|i| t.columns.get(i))
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

fn values(t: &TableDef, ids: &[u32], row: &[Value]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            t.column_by_id(*id)
                .and_then(|i| row.get(i))
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect()
}

fn show(t: &TableDef, ids: &[u32], vals: &[Value]) -> String {
    let names: Vec<String> = ids.iter().map(|c| column_name(t, *c)).collect();
    let vals: Vec<String> = vals
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    format!("Key ({})=({})", names.join(", "), vals.join(", "))
}

/// Checks the foreign keys of a child row about to be written (`old`: the row it replaces,
/// whose unchanged keys need no new check).
pub fn check_child(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    row: &[Value],
    old: Option<&[Value]>,
) -> Result<()> {
    for c in table.constraints.iter().filter(|c| c.kind == 'f') {
        if let (Some(fk), Some(old)) = (&c.foreign, old) {
            if values(table, &fk.columns, row) == values(table, &fk.columns, old) {
                continue;
            }
        }
        check_one(ctx, table, c, row, None)?;
    }
    Ok(())
}

fn check_one(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    c: &ConstraintDef,
    row: &[Value],
    parent: Option<&TableDef>,
) -> Result<()> {
    let Some(fk) = &c.foreign else { return Ok(()) };
    let vals = values(table, &fk.columns, row);
    if vals.iter().any(Value::is_null) {
        return Ok(()); // MATCH SIMPLE: a NULL in the key skips the check.
    }
    let parent = match parent {
        Some(p) => p.clone(),
        None if fk.ref_schema == table.schema && fk.ref_table == table.name => table.clone(),
        None => match ctx.catalog().table(&fk.ref_schema, &fk.ref_table)? {
            Some(p) => p,
            None => return Err(super::query::no_table(&fk.ref_table)),
        },
    };
    // The parent's values, cast to its column types.
    let mut pvals = Vec::with_capacity(vals.len());
    for (v, id) in vals.iter().zip(&fk.ref_columns) {
        pvals.push(v.clone().cast(&column_type(&parent, *id))?);
    }
    let found = if parent.primary_key.len() == fk.ref_columns.len()
        && parent
            .primary_key
            .iter()
            .all(|id| fk.ref_columns.contains(id))
    {
        let mut key = index_prefix(parent.id, 0);
        for id in &parent.primary_key {
            let pos = fk.ref_columns.iter().position(|r| r == id).unwrap_or(0);
            append_key(&mut key, &[&pvals[pos]]);
        }
        ctx.txn.get_for_update(ctx.engine.data, &key)?.is_some()
            || self_match(table, &parent, fk, row, &vals)
    } else {
        !parent_rows(ctx, &parent, &fk.ref_columns, &pvals)?.is_empty()
    };
    if !found {
        return Err(Error::new(
            code::FOREIGN_KEY_VIOLATION,
            format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                table.name, c.name
            ),
        )
        .with_detail(format!(
            "{} is not present in table \"{}\".",
            show(table, &fk.columns, &vals),
            parent.name
        )));
    }
    Ok(())
}

/// A self-referencing row may reference itself before it is stored.
fn self_match(
    table: &TableDef,
    parent: &TableDef,
    fk: &ForeignKey,
    row: &[Value],
    vals: &[Value],
) -> bool {
    parent.id == table.id && values(table, &fk.ref_columns, row) == vals
}

/// The rows of `t` whose `ids` columns equal `vals` (through an index when one fits).
fn parent_rows(
    ctx: &mut Ctx<'_>,
    t: &TableDef,
    ids: &[u32],
    vals: &[Value],
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let mut filter: Option<Expr> = None;
    for (id, v) in ids.iter().zip(vals) {
        let Some(pos) = t.column_by_id(*id) else {
            continue;
        };
        let eq = Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(pos)),
            Box::new(Expr::Literal(v.clone())),
        );
        filter = Some(match filter {
            Some(f) => Expr::And(Box::new(f), Box::new(eq)),
            None => eq,
        });
    }
    let Some(filter) = filter else {
        return Ok(Vec::new());
    };
    let access = super::query::choose_access(t, &filter);
    // Among every row committed so far, not only the statement's snapshot: a row another
    // transaction committed since (after waiting for this lock) counts, as PostgreSQL's
    // referential actions see it.
    let before = ctx.txn.set_read_latest(true);
    let rows = super::query::scan_rows(ctx, t, &access, true);
    ctx.txn.set_read_latest(before);
    let rows = rows?;
    let ectx = ctx.eval_context();
    let mut out = Vec::new();
    for (k, r) in rows {
        if filter.passes(&r, &ectx)? {
            out.push((k, r));
        }
    }
    Ok(out)
}

/// Whether changing rows of `table` (`update`; else deleting them) may change other rows of
/// `table` itself, through the actions that write (CASCADE, SET NULL, SET DEFAULT) of the
/// foreign keys in `refs` (those referencing `table`) and of the keys referencing the tables
/// they write in turn. A statement writing several rows of `table` must then work each row
/// out after the ones before it are written.
pub fn actions_reach(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    refs: &[(TableDef, ConstraintDef)],
    update: bool,
) -> Result<bool> {
    let mut todo: Vec<_> = refs.iter().map(|r| (r.clone(), update)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(((child, c), update)) = todo.pop() {
        let Some(fk) = &c.foreign else { continue };
        let act = if update { fk.on_update } else { fk.on_delete };
        if !matches!(act, 'c' | 'n' | 'd') {
            continue;
        }
        if child.id == table.id {
            return Ok(true);
        }
        // A cascaded delete deletes the child's rows; every other action updates them.
        let next = update || act != 'c';
        if seen.insert((child.id, next)) {
            todo.extend(referencing(ctx, &child)?.into_iter().map(|r| (r, next)));
        }
    }
    Ok(false)
}

/// The foreign keys (child table, constraint) that reference `parent`.
pub fn referencing(ctx: &mut Ctx<'_>, parent: &TableDef) -> Result<Vec<(TableDef, ConstraintDef)>> {
    let mut out = Vec::new();
    let children = ctx
        .catalog()
        .referencing_tables(&parent.schema, &parent.name)?;
    for (schema, name) in children {
        let Some(t) = ctx.catalog().table(&schema, &name)? else {
            continue;
        };
        for c in &t.constraints {
            if let Some(fk) = &c.foreign {
                if fk.ref_schema == parent.schema && fk.ref_table == parent.name {
                    out.push((t.clone(), c.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Applies the ON DELETE (`new` None) or ON UPDATE actions of the foreign keys in `refs`
/// to the children of parent row `old`. NO ACTION is checked only when `no_action` is set:
/// the statement checks it after all its rows are written (so deleting a parent and its
/// children in one statement is allowed); every other action happens when `no_action` is
/// not set.
pub fn on_parent_change(
    ctx: &mut Ctx<'_>,
    parent: &TableDef,
    refs: &[(TableDef, ConstraintDef)],
    old: &[Value],
    new: Option<&[Value]>,
    no_action: bool,
) -> Result<()> {
    for (child, c) in refs {
        let Some(fk) = &c.foreign else { continue };
        let act = if new.is_some() {
            fk.on_update
        } else {
            fk.on_delete
        };
        if (act == 'a') != no_action {
            continue;
        }
        let key = values(parent, &fk.ref_columns, old);
        if let Some(new) = new {
            if values(parent, &fk.ref_columns, new) == key {
                continue;
            }
        }
        if key.iter().any(Value::is_null) {
            continue;
        }
        let mut kvals = Vec::with_capacity(key.len());
        for (v, id) in key.iter().zip(&fk.columns) {
            kvals.push(v.clone().cast(&column_type(child, *id))?);
        }
        // A self-reference sees the parent's definition.
        let child = if child.id == parent.id {
            parent.clone()
        } else {
            child.clone()
        };
        let rows = parent_rows(ctx, &child, &fk.columns, &kvals)?;
        if rows.is_empty() {
            continue;
        }
        match act {
            'c' => {
                let child_refs = referencing(ctx, &child)?;
                for (k, r) in rows {
                    match new {
                        None => {
                            super::dml::delete_row(ctx, &child, &k, &r, &child_refs)?;
                        }
                        Some(new) => {
                            let mut changed = r.clone();
                            for (cid, pid) in fk.columns.iter().zip(&fk.ref_columns) {
                                if let (Some(ci), Some(pi)) =
                                    (child.column_by_id(*cid), parent.column_by_id(*pid))
                                {
                                    changed[ci] = new.get(pi).cloned().unwrap_or(Value::Null);
                                }
                            }
                            super::dml::update_row(ctx, &child, &k, &r, &changed, &child_refs)?;
                        }
                    }
                }
            }
            'n' | 'd' => {
                let child_refs = referencing(ctx, &child)?;
                for (k, r) in rows {
                    let mut changed = r.clone();
                    for cid in &fk.columns {
                        if let Some(ci) = child.column_by_id(*cid) {
                            changed[ci] = if act == 'n' {
                                Value::Null
                            } else {
                                super::dml::default_for(ctx, &child, ci)?
                            };
                        }
                    }
                    // SET DEFAULT back to the very key that goes away still references it.
                    let kept: Vec<&Value> = fk
                        .columns
                        .iter()
                        .filter_map(|cid| child.column_by_id(*cid))
                        .filter_map(|ci| changed.get(ci))
                        .collect();
                    if act == 'd' && kept.iter().copied().eq(kvals.iter()) {
                        return Err(still_referenced(parent, &child, c, &fk.ref_columns, &key));
                    }
                    super::dml::update_row(ctx, &child, &k, &r, &changed, &child_refs)?;
                }
            }
            _ => return Err(still_referenced(parent, &child, c, &fk.ref_columns, &key)),
        }
    }
    Ok(())
}

/// 23503 for a parent key that a child row still references.
fn still_referenced(
    parent: &TableDef,
    child: &TableDef,
    c: &ConstraintDef,
    ref_columns: &[u32],
    key: &[Value],
) -> Error {
    Error::new(
        code::FOREIGN_KEY_VIOLATION,
        format!(
            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
            parent.name, c.name, child.name
        ),
    )
    .with_detail(format!(
        "{} is still referenced from table \"{}\".",
        show(parent, ref_columns, key),
        child.name
    ))
}
