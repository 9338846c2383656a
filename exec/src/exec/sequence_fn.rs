//! nextval, currval, lastval and setval: sequence names resolved along the search path, the
//! values this session obtained (currval / lastval read those, never other sessions'), and
//! PostgreSQL's errors.

use std::collections::HashMap;

use super::Ctx;
use crate::error::{code, Error, Result};
use crate::expr::SeqOp;

/// What this session's sequence functions remember.
#[derive(Debug, Default)]
pub struct SeqState {
    /// The last value nextval / setval gave per sequence (storage name).
    pub values: HashMap<String, i64>,
    /// The last value nextval gave (lastval).
    pub last: Option<i64>,
}

/// (storage name, display name) of the sequence `text` names (`name`, `schema.name`, with
/// double quotes keeping case).
fn resolve(ctx: &mut Ctx<'_>, text: &str) -> Result<(String, String)> {
    let parts: Vec<String> = text
        .split('.')
        .map(
            |p| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(q) => q.to_string(),
                None => p.trim().to_lowercase(),
            },
        )
        .collect();
    let missing = |n: &str| {
        Error::new(
            code::UNDEFINED_TABLE,
            format!("relation \"{n}\" does not exist"),
        )
    };
    match parts.as_slice() {
        [n] => {
            for schema in ctx.search_path {
                let full = ctx.sequence_name(schema, n);
                if ctx.engine.sequences.exists(&full)? {
                    return Ok((full, n.clone()));
                }
            }
            Err(missing(n))
        }
        [s, n] => {
            let full = ctx.sequence_name(s, n);
            if ctx.engine.sequences.exists(&full)? {
                Ok((full, n.clone()))
            } else {
                Err(missing(&format!("{s}.{n}")))
            }
        }
        _ => Err(Error::syntax(format!("improper relation name: {text}"))),
    }
}

/// Runs one sequence function.
pub fn call(
    ctx: &mut Ctx<'_>,
    op: SeqOp,
    name: Option<&str>,
    value: Option<i64>,
    is_called: bool,
) -> Result<i64> {
    if op == SeqOp::Last {
        return ctx.sequence_state.last.ok_or_else(|| {
            Error::new(
                code::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "lastval is not yet defined in this session",
            )
        });
    }
    let (full, shown) = resolve(ctx, name.unwrap_or_default())?;
    match op {
        SeqOp::Next => {
            let v = ctx.engine.sequences.nextval(&full, &mut ctx.waits)?;
            ctx.sequence_state.values.insert(full, v);
            ctx.sequence_state.last = Some(v);
            Ok(v)
        }
        SeqOp::Current => ctx
            .sequence_state
            .values
            .get(&full)
            .copied()
            .ok_or_else(|| {
                Error::new(
                    code::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("currval of sequence \"{shown}\" is not yet defined in this session"),
                )
            }),
        SeqOp::Set => {
            let Some(v) = value else {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    "setval needs a value",
                ));
            };
            // Not called: the next nextval returns `v` itself.
            let at = if is_called {
                v
            } else {
                let step = ctx
                    .engine
                    .sequences
                    .definition(&full)?
                    .map_or(1, |d| d.increment);
                v.saturating_sub(step)
            };
            ctx.engine.sequences.setval(&full, at, &mut ctx.waits)?;
            if is_called {
                ctx.sequence_state.values.insert(full, v);
            }
            Ok(v)
        }
        SeqOp::Last => Err(Error::new(code::INTERNAL_ERROR, "lastval handled above")),
    }
}
