//! `GROUP BY` with `GROUPING SETS`, `ROLLUP` and `CUBE`: the items expand into the grouping
//! sets PostgreSQL forms (`ROLLUP (a, b)` is `(a, b), (a), ()`; `CUBE (a, b)` is `(a, b),
//! (a), (b), ()`; several items multiply: `GROUP BY a, ROLLUP (b)` is `(a, b), (a)`), over
//! the distinct key expressions they name. The aggregation then runs once per set, a key
//! outside the set reading NULL (`AggPlan::sets`), and `GROUPING(...)` says which keys a row
//! left out.

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
    let mut product: Vec<Vec<ast::Expr>> = vec![Vec::new()];
    for item in items {
        let alternatives: Vec<Vec<ast::Expr>> = match item {
            ast::Expr::Rollup(groups) => (0..=groups.len())
                .rev()
                .map(|n| groups.get(..n).unwrap_or_default().concat())
                .collect(),
            ast::Expr::Cube(groups) => {
                let n = groups.len();
                if n > 12 {
                    return Err(too_many());
                }
                // PostgreSQL's order: (a, b), (a), (b), ().
                (0..1usize << n)
                    .rev()
                    .map(|mask| {
                        groups
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << (n - 1 - i)) != 0)
                            .flat_map(|(_, g)| g.iter().cloned())
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
                sets.clone()
            }
            e => vec![vec![e.clone()]],
        };
        let mut next = Vec::with_capacity(product.len() * alternatives.len());
        for p in &product {
            for a in &alternatives {
                let mut set = p.clone();
                set.extend(a.iter().cloned());
                next.push(set);
            }
        }
        if next.len() > MAX_SETS {
            return Err(too_many());
        }
        product = next;
    }
    let mut keys: Vec<ast::Expr> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for e in product.iter().flatten() {
        let t = e.to_string();
        if !texts.contains(&t) {
            texts.push(t);
            keys.push(e.clone());
        }
    }
    let sets = product
        .iter()
        .map(|set| {
            let held: Vec<String> = set.iter().map(ToString::to_string).collect();
            texts.iter().map(|t| held.contains(t)).collect()
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
