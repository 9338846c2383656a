//! The lookup memo as scans use it (`chunked::ChunkedScan` over a secondary index for an
//! enclosing row): what it keeps, when it answers, and when it must not; and correlated
//! subqueries whose lookups repeat, against the same answers computed without them.
#![allow(clippy::unwrap_used)]

use super::access::{index_start, Access};
use super::chunked::ChunkedScan;
use crate::exec::Ctx;
use crate::expr::Expr;
use crate::test_support::{engine, run, with_ctx};
use crate::types::Value;

/// The `id`s an index scan of `item` on `part = outer[0]` gives, scanning as a correlated
/// subquery does (`for_update` as given).
fn ids(ctx: &mut Ctx<'_>, access: &Access, outer: &[Value], for_update: bool) -> Vec<i32> {
    let table = ctx.catalog().table("public", "item").unwrap().unwrap();
    let mut scan = ChunkedScan::new(access, None);
    let mut out = Vec::new();
    // Chunks of two rows: the memo keeps a lookup once every chunk was taken.
    while let Some(rows) = scan.next(ctx, &table, for_update, outer, 2).unwrap() {
        for (_, row) in rows {
            match row[0] {
                Value::Int4(id) => out.push(id),
                ref other => panic!("id {other:?}"),
            }
        }
    }
    out
}

#[test]
fn index_lookups_for_an_enclosing_row_are_kept_while_the_reads_see_the_same() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE item (id int PRIMARY KEY, part int, qty int);
         CREATE INDEX item_part ON item (part);
         INSERT INTO item SELECT x, x % 4, x FROM generate_series(1, 20) x;",
    );
    with_ctx(&engine, |ctx| {
        let table = ctx.catalog().table("public", "item").unwrap().unwrap();
        let index = table
            .indexes
            .iter()
            .find(|i| i.name == "item_part")
            .unwrap();
        let access = Access::Index {
            id: index.id,
            eq: vec![Expr::Outer(0)],
        };
        let part = |p: i32| vec![Value::Int4(p)];
        let want = vec![3, 7, 11, 15, 19];
        assert_eq!(ids(ctx, &access, &part(3), false), want);
        assert_eq!(ctx.lookups.len(), 1, "the lookup is kept");
        assert_eq!(ids(ctx, &access, &part(1), false).len(), 5);
        assert_eq!(ctx.lookups.len(), 2);

        // The next scan for part 3 is answered from the memo: rows planted there come back.
        let three = part(3);
        let start = {
            let ectx = ctx.eval_context();
            let ectx = ectx.with_outer(&three);
            index_start(&table, index.id, &access_eq(&access), &ectx)
                .unwrap()
                .unwrap()
        };
        // Five rows: given back in chunks of two.
        let planted: Vec<_> = (1..=5)
            .map(|i| {
                (
                    vec![i as u8],
                    vec![Value::Int4(-i), Value::Null, Value::Null],
                )
            })
            .collect();
        let view = ctx.txn.read_view().unwrap();
        ctx.lookups
            .put(view, start.clone(), None, planted.clone(), 1);
        assert_eq!(ids(ctx, &access, &part(3), false), vec![-1, -2, -3, -4, -5]);
        // Not by a locking scan, nor by one for no enclosing row.
        assert_eq!(ids(ctx, &access, &part(3), true), want);
        let fixed = Access::Index {
            id: index.id,
            eq: vec![Expr::Literal(Value::Int4(3))],
        };
        assert_eq!(ids(ctx, &fixed, &[], false), want);

        // A scan that stops after its first chunk (EXISTS) keeps nothing.
        let mut scan = ChunkedScan::new(&access, None);
        let first = scan.next(ctx, &table, false, &part(2), 2).unwrap().unwrap();
        assert_eq!(first.len(), 2);
        drop(scan);
        assert_eq!(
            ctx.lookups.len(),
            2,
            "part 2's lookup, read in part, is not kept"
        );
        assert_eq!(ids(ctx, &access, &part(2), false).len(), 5);
        assert_eq!(ctx.lookups.len(), 3);

        // A write by the transaction moves its view: the memo starts over.
        ctx.lookups.put(view, start, None, planted, 1);
        let data = ctx.engine.data;
        let key = {
            let mut k = crate::row::index_prefix(table.id, 0);
            crate::row::append_key(&mut k, &[&Value::Int4(100)]);
            k
        };
        ctx.txn.put(data, &key, b"not read").unwrap();
        assert_eq!(ids(ctx, &access, &part(3), false), want);
        assert_eq!(ctx.lookups.len(), 1, "only the lookup made since");
    });
}

fn access_eq(access: &Access) -> Vec<Expr> {
    match access {
        Access::Index { eq, .. } => eq.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn correlated_subqueries_with_repeated_lookups_give_what_joins_give() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE item (id int PRIMARY KEY, part int, supp int, qty int);
         CREATE INDEX item_part ON item (part);
         CREATE TABLE ps (part int, supp int, avail int, PRIMARY KEY (part, supp));
         INSERT INTO item SELECT x, x % 50, x % 7, x % 13 FROM generate_series(1, 3000) x;
         INSERT INTO ps SELECT p, s, (p * 31 + s * 17) % 400 FROM generate_series(0, 49) p, generate_series(0, 6) s;",
    );
    // Q20's shape: each part's lookup serves its seven suppliers in a row.
    let correlated = run(
        &mut s,
        "SELECT count(*) || '/' || sum(avail) FROM ps WHERE avail > \
         (SELECT 0.5 * sum(qty) FROM item WHERE item.part = ps.part AND item.supp = ps.supp)",
    );
    let joined = run(
        &mut s,
        "SELECT count(*) || '/' || sum(avail) FROM ps JOIN \
         (SELECT part, supp, 0.5 * sum(qty) AS half FROM item GROUP BY part, supp) g \
         ON g.part = ps.part AND g.supp = ps.supp WHERE avail > half",
    );
    assert_eq!(correlated, joined);
    assert_ne!(correlated.as_deref(), Some("0/"));
    // Q17's shape: the lookup repeats for each joined row of its part.
    let correlated = run(
        &mut s,
        "SELECT count(*) FROM ps JOIN item i ON i.part = ps.part AND i.supp = ps.supp \
         WHERE i.qty < (SELECT avg(qty) FROM item WHERE item.part = ps.part)",
    );
    let joined = run(
        &mut s,
        "SELECT count(*) FROM ps JOIN item i ON i.part = ps.part AND i.supp = ps.supp \
         JOIN (SELECT part, avg(qty) AS a FROM item GROUP BY part) g ON g.part = ps.part \
         WHERE i.qty < a",
    );
    assert_eq!(correlated, joined);
    // A transaction that writes between two reads sees its write in the second.
    run(&mut s, "BEGIN");
    let before = run(
        &mut s,
        "SELECT sum((SELECT count(*) FROM item WHERE item.part = ps.part)) FROM ps",
    );
    run(&mut s, "INSERT INTO item VALUES (5000, 3, 0, 1)");
    let after = run(
        &mut s,
        "SELECT sum((SELECT count(*) FROM item WHERE item.part = ps.part)) FROM ps",
    );
    run(&mut s, "ROLLBACK");
    assert_eq!(before.as_deref(), Some("21000"));
    assert_eq!(
        after.as_deref(),
        Some("21007"),
        "part 3's seven suppliers see the row"
    );
    // An UPDATE reading the table it writes: every row's subquery sees the rows as the
    // statement began (as PostgreSQL's do), whatever the memo kept before the first write.
    let want = run(
        &mut s,
        "SELECT sum(qty + (SELECT sum(qty) FROM item i2 WHERE i2.part = item.part)) \
         FROM item WHERE id <= 100",
    );
    run(
        &mut s,
        "UPDATE item SET qty = qty + (SELECT sum(qty) FROM item i2 WHERE i2.part = item.part) \
         WHERE id <= 100",
    );
    assert_eq!(
        run(&mut s, "SELECT sum(qty) FROM item WHERE id <= 100"),
        want
    );
}
