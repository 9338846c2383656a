//! `GROUP BY` with `GROUPING SETS`, `ROLLUP` and `CUBE`: the items expand into the grouping
//! sets PostgreSQL forms (`ROLLUP (a, b)` is `(a, b), (a), ()`; `CUBE (a, b)` is `(a, b),
//! (a), (b), ()`; several items multiply: `GROUP BY a, ROLLUP (b)` is `(a, b), (a)`), over
//! the distinct key expressions they name. The aggregation then runs once per set, a key
//! outside the set reading NULL (`AggPlan::sets`), and `GROUPING(...)` says which keys a row
//! left out.

use std::collections::HashMap;

use sqlparser::ast;

use crate::error::{Error, Result};

/// PostgreSQL's limit on grouping sets.
const MAX_SETS: usize = 4096;

/// The key expressions of a `GROUP BY`, and its grouping sets (each as which keys it holds)
/// when it has any.
pub(super) struct Expanded {
    pub keys: Vec<ast::Expr>,
    pub sets: Option<Vec<Vec<bool>>>,
}

/// Expands the items of a `GROUP BY`.
pub(super) fn expand(items: &[ast::Expr]) -> Result<Expanded> {
    let special = |e: &ast::Expr| {
        matches!(
            e,
            ast::Expr::Rollup(_) | ast::Expr::Cube(_) | ast::Expr::GroupingSets(_)
        )
    };
    if !items.iter().any(special) {
        return Ok(Expanded {
            keys: items.to_vec(),
            sets: None,
        });
    }
    // How many sets the items make, checked before any is built.
    let mut count: usize = 1;
    for item in items {
        let n = match item {
            ast::Expr::Rollup(groups) => groups.len() + 1,
            ast::Expr::Cube(groups) if groups.len() > 12 => return Err(too_many()),
            ast::Expr::Cube(groups) => 1 << groups.len(),
            ast::Expr::GroupingSets(sets) => sets.len(),
            _ => 1,
        };
        count = count
            .checked_mul(n)
            .filter(|c| *c <= MAX_SETS)
            .ok_or_else(too_many)?;
    }
    // The distinct key expressions (by their text), and each item's alternatives as key
    // positions.
    let mut keys: Vec<ast::Expr> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut key = |e: &ast::Expr| -> usize {
        *position.entry(e.to_string()).or_insert_with(|| {
            keys.push(e.clone());
            keys.len() - 1
        })
    };
    let mut product: Vec<Vec<usize>> = vec![Vec::new()];
    for item in items {
        let alternatives: Vec<Vec<usize>> = match item {
            ast::Expr::Rollup(groups) => {
                let groups: Vec<Vec<usize>> = groups
                    .iter()
                    .map(|g| g.iter().map(&mut key).collect())
                    .collect();
                (0..=groups.len())
                    .rev()
                    .map(|n| groups.get(..n).unwrap_or_default().concat())
                    .collect()
            }
            ast::Expr::Cube(groups) => {
                let groups: Vec<Vec<usize>> = groups
                    .iter()
                    .map(|g| g.iter().map(&mut key).collect())
                    .collect();
                let n = groups.len();
                // PostgreSQL's order: (a, b), (a), (b), ().
                (0..1usize << n)
                    .rev()
                    .map(|mask| {
                        groups
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << (n - 1 - i)) != 0)
                            .flat_map(|(_, g)| g.iter().copied())
                            .collect()
                    })
                    .collect()
            }
            ast::Expr::GroupingSets(sets) => {
                if sets.iter().flatten().any(special) {
                    return Err(Error::unsupported(
                        "ROLLUP, CUBE or GROUPING SETS inside GROUPING SETS is not supported",
                    ));
                }
                sets.iter()
                    .map(|s| s.iter().map(&mut key).collect())
                    .collect()
            }
            e => vec![vec![key(e)]],
        };
        let mut next = Vec::with_capacity(product.len() * alternatives.len());
        for p in &product {
            for a in &alternatives {
                let mut set = p.clone();
                set.extend(a.iter().copied());
                next.push(set);
            }
        }
        product = next;
    }
    let sets = product
        .iter()
        .map(|set| {
            let mut held = vec![false; keys.len()];
            for &k in set {
                if let Some(h) = held.get_mut(k) {
                    *h = true;
                }
            }
            held
        })
        .collect();
    Ok(Expanded {
        keys,
        sets: Some(sets),
    })
}

fn too_many() -> Error {
    Error::new(
        "54000",
        format!("too many grouping sets present (maximum {MAX_SETS})"),
    )
}
