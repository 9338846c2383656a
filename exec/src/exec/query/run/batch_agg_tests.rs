//! Batch aggregation against the row path (the model): random rows (NULLs, NaNs, values off
//! their column's scale, numerics too wide for the lanes), random GROUP BY keys and random
//! counts, sums and averages of exact arithmetic, folded a chunk at a time as the scan does
//! (a chunk the batch refuses goes the row path); the groups' rows come out the same as
//! `Aggregator::add` over the decoded rows makes them, to the display scale and in order.

use proptest::prelude::*;

use super::BatchAgg;
use crate::exec::agg::{AggPlan, Aggregator};
use crate::expr::{AggCall, AggKind, EvalContext, Expr};
use crate::row::{decode_row, encode_row};
use crate::test_support::table_of;
use crate::types::{BinaryOp, DataType, Numeric, Value};

fn types() -> Vec<DataType> {
    vec![
        DataType::Char(Some(1)),
        DataType::Int4,
        DataType::Date,
        DataType::Numeric(Some((15, 2))),
        DataType::Numeric(Some((10, 4))),
        DataType::Int8,
        DataType::Numeric(None),
        DataType::Text,
    ]
}

const KEYS: [usize; 4] = [0, 1, 2, 7];
const WIDTH: usize = 8;

fn numeric(s: &str) -> Value {
    Numeric::parse(s).map_or(Value::Null, Value::Numeric)
}

fn value(i: usize) -> BoxedStrategy<Value> {
    let v: BoxedStrategy<Value> = match i {
        0 => prop::sample::select(vec!["A", "N", "R"])
            .prop_map(|s| Value::Text(s.into()))
            .boxed(),
        1 => (-2i32..2).prop_map(Value::Int4).boxed(),
        2 => (0i32..3).prop_map(Value::Date).boxed(),
        3 => prop_oneof![
            8 => (-100_000i64..100_000).prop_map(|c| numeric(&format!("{}.{:02}", c / 100, (c % 100).abs()))),
            // Off the declared scale (not as stored through SQL, but possible on disk).
            1 => Just(numeric("1.5")),
            1 => Just(numeric("NaN")),
        ]
        .boxed(),
        4 => (-99_999i64..99_999)
            .prop_map(|c| numeric(&format!("{}.{:04}", c / 10_000, (c % 10_000).abs())))
            .boxed(),
        5 => prop_oneof![
            (-1000i64..1000).prop_map(Value::Int8),
            Just(Value::Int8(i64::MAX)),
            Just(Value::Int8(i64::MIN)),
        ]
        .boxed(),
        6 => (-50i64..50).prop_map(|d| numeric(&d.to_string())).boxed(),
        _ => prop::sample::select(vec!["x", "y", ""])
            .prop_map(|s| Value::Text(s.into()))
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 6 => v].boxed()
}

/// Exact arithmetic over the numeric and integer columns (3, 4, 5, 1) and constants; now
/// and then a column the batch cannot take (6: no declared scale).
fn arith() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        prop::sample::select(vec![1usize, 3, 4, 5, 6]).prop_map(Expr::Column),
        (-3i32..3).prop_map(|v| Expr::Literal(Value::Int4(v))),
        prop::sample::select(vec!["0.5", "1", "-2.25", "0.001"])
            .prop_map(|s| Expr::Literal(numeric(s))),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec![BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b))),
            inner.clone().prop_map(|x| Expr::Neg(Box::new(x))),
            inner.prop_map(|x| Expr::Cast(Box::new(x), DataType::Numeric(None))),
        ]
    })
}

fn call() -> impl Strategy<Value = AggCall> {
    let make = |kind, arg| AggCall {
        kind,
        arg,
        distinct: false,
        filter: None,
        ty: match kind {
            AggKind::CountStar | AggKind::Count => DataType::Int8,
            _ => DataType::Numeric(None),
        },
        order: Vec::new(),
    };
    prop_oneof![
        Just(make(AggKind::CountStar, None)),
        (0..WIDTH).prop_map(move |c| make(AggKind::Count, Some(Expr::Column(c)))),
        arith().prop_map(move |e| make(AggKind::Sum, Some(e))),
        arith().prop_map(move |e| make(AggKind::Avg, Some(e))),
    ]
}

fn plan() -> impl Strategy<Value = AggPlan> {
    (
        prop::sample::subsequence(KEYS.to_vec(), 0..3),
        prop::collection::vec(call(), 1..5),
    )
        .prop_map(|(keys, aggs)| AggPlan {
            keys: keys.into_iter().map(Expr::Column).collect(),
            aggs,
            having: None,
            sets: None,
        })
}

/// The groups' rows as text, in their order (both paths give groups in first-met order).
fn texts(rows: Vec<Vec<Value>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_text().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn batch_aggregation_matches_the_row_path(
        rows in prop::collection::vec(((0..WIDTH).map(value).collect::<Vec<_>>(), any::<bool>()), 0..60),
        plan in plan(),
        chunk in 1usize..25,
        flip in any::<bool>(),
    ) {
        let t = table_of(&types());
        let ectx = EvalContext::constant();
        let Some(batch) = BatchAgg::compile(&plan, &t) else {
            return Ok(());
        };
        let raw: Vec<(Vec<u8>, Vec<u8>)> =
            rows.iter().map(|(r, _)| (Vec::new(), encode_row(&t, r))).collect();
        let sel: Vec<bool> = rows.iter().map(|(_, s)| *s).collect();
        let decoded = |raw: &[(Vec<u8>, Vec<u8>)], sel: &[bool]| -> Vec<Vec<Value>> {
            raw.iter()
                .zip(sel)
                .filter(|(_, s)| **s)
                .filter_map(|((_, stored), _)| decode_row(&t, stored).ok())
                .collect()
        };
        let mut model = Aggregator::new(&plan);
        if model.add(&decoded(&raw, &sel), &ectx).is_err() {
            return Ok(());
        }
        let Ok(want) = model.finish(&ectx) else { return Ok(()) };
        let mut agg = Aggregator::new(&plan);
        for (part, s) in raw.chunks(chunk).zip(sel.chunks(chunk)) {
            match batch.fold(&part.iter().cloned().collect(), s, false) {
                Some(groups) => agg.merge_partials(groups).map_err(|e| TestCaseError::fail(e.to_string()))?,
                None => agg.add(&decoded(part, s), &ectx).map_err(|e| TestCaseError::fail(e.to_string()))?,
            }
        }
        let got = agg.finish(&ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(texts(got), texts(want.clone()), "plan {:?}", plan);

        // Hash groups found across chunks (`fold_into`), in pieces two threads take in
        // turn, each carrying its aggregation from piece to piece; merged in either order,
        // the groups come out as one thread meets them.
        let mut threads = [Aggregator::new(&plan), Aggregator::new(&plan)];
        for (i, (piece, ps)) in raw.chunks(chunk * 2).zip(sel.chunks(chunk * 2)).enumerate() {
            let agg = &mut threads[i % 2];
            agg.start_piece(i);
            for (part, s) in piece.chunks(chunk).zip(ps.chunks(chunk)) {
                if batch.fold_into(&part.iter().cloned().collect(), s, agg).is_none() {
                    agg.add(&decoded(part, s), &ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
        }
        let [a, b] = threads;
        let (mut first, second) = if flip { (b, a) } else { (a, b) };
        first.merge(second).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = first.finish(&ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(texts(got), texts(want), "across chunks, plan {:?}", plan);

        // Grouped input (a scan in the order of its grouping keys): in pieces, each folded
        // by its own grouped aggregator as a parallel scan's are, merged in order.
        let key_of = |r: &[u8]| -> Vec<u8> {
            let Ok(row) = decode_row(&t, r) else { return Vec::new() };
            let mut k = Vec::new();
            for e in &plan.keys {
                if let Expr::Column(i) = e {
                    crate::types::encode_key(&row[*i], &mut k);
                }
            }
            k
        };
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by_key(|i| key_of(&raw[*i].1));
        let raw: Vec<(Vec<u8>, Vec<u8>)> = order.iter().map(|i| raw[*i].clone()).collect();
        let sel: Vec<bool> = order.iter().map(|i| sel[*i]).collect();
        let mut model = Aggregator::new(&plan);
        model.add(&decoded(&raw, &sel), &ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want = model.finish(&ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut whole = Aggregator::new_grouped(&plan);
        for (piece, ps) in raw.chunks(chunk * 2).zip(sel.chunks(chunk * 2)) {
            let mut agg = Aggregator::new_grouped(&plan);
            for (part, s) in piece.chunks(chunk).zip(ps.chunks(chunk)) {
                match batch.fold(&part.iter().cloned().collect(), s, true) {
                    Some(groups) => agg.merge_partials(groups).map_err(|e| TestCaseError::fail(e.to_string()))?,
                    None => agg.add(&decoded(part, s), &ectx).map_err(|e| TestCaseError::fail(e.to_string()))?,
                }
            }
            whole.merge(agg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let got = whole.finish(&ectx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(texts(got), texts(want), "grouped, plan {:?}", plan);
    }
}

/// TPC-H Q1's aggregates compile, and a chunk of plain rows is folded, not refused.
#[test]
fn q1_shape_folds() {
    let t = table_of(&types());
    let col = |i| Box::new(Expr::Column(i));
    let one = || Box::new(Expr::Literal(Value::Int4(1)));
    let disc_price = Expr::Binary(
        BinaryOp::Mul,
        col(3),
        Box::new(Expr::Binary(BinaryOp::Sub, one(), col(4))),
    );
    let charge = Expr::Binary(
        BinaryOp::Mul,
        Box::new(disc_price.clone()),
        Box::new(Expr::Binary(BinaryOp::Add, one(), col(4))),
    );
    let sum = |e| AggCall {
        kind: AggKind::Sum,
        arg: Some(e),
        distinct: false,
        filter: None,
        ty: DataType::Numeric(None),
        order: Vec::new(),
    };
    let plan = AggPlan {
        keys: vec![Expr::Column(0), Expr::Column(7)],
        aggs: vec![sum(Expr::Column(3)), sum(disc_price), sum(charge)],
        having: None,
        sets: None,
    };
    let Some(batch) = BatchAgg::compile(&plan, &t) else {
        panic!("Q1's shape did not compile");
    };
    let row = |flag: &str, price: &str, disc: &str| {
        let mut r = vec![Value::Null; WIDTH];
        r[0] = Value::Text(flag.into());
        r[3] = numeric(price);
        r[4] = numeric(disc);
        r[7] = Value::Text("x".into());
        (Vec::new(), encode_row(&t, &r))
    };
    let raw = vec![
        row("A", "10.00", "0.1000"),
        row("A", "20.00", "0.0500"),
        row("N", "1.00", "0.0000"),
    ];
    let groups = batch.fold(&raw.into_iter().collect(), &[true, true, true], false);
    let Some(groups) = groups else {
        panic!("the chunk was refused");
    };
    assert_eq!(groups.len(), 2);
    let ectx = EvalContext::constant();
    let mut agg = Aggregator::new(&plan);
    agg.merge_partials(groups).unwrap_or_else(|e| panic!("{e}"));
    let got = texts(agg.finish(&ectx).unwrap_or_else(|e| panic!("{e}")));
    // 10 * 0.9 + 20 * 0.95 = 28.000000; * (1 + disc): 9.9 + 19.95 = 29.85.
    assert_eq!(got[0], ["A", "x", "30.00", "28.000000", "29.8500000000"]);
    assert_eq!(got[1], ["N", "x", "1.00", "1.000000", "1.0000000000"]);
}

/// Through SQL, on the statement's thread and in parallel: each aggregation the batches fold
/// answers as its twin does, the same aggregates with `FILTER (WHERE true)` (which the batches
/// do not take: the row path), row for row and in order.
#[test]
fn folded_aggregations_answer_as_the_row_path_does() {
    use crate::test_support::{engine, last_rows as rows};
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    rows(
        &mut s,
        "CREATE TABLE li (id int PRIMARY KEY, flag char(1), status text, ship date, \
         qty numeric(15,2), price numeric(15,2), disc numeric(15,2), n int8);
         INSERT INTO li SELECT x, CASE x % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'N' ELSE 'R' END, \
         CASE WHEN x % 7 = 0 THEN NULL ELSE 'F' || (x % 2) END, date '1998-01-01' + x % 400, \
         x % 50 + 1, (x % 9973) * 1.01, (x % 11) * 0.01, \
         CASE WHEN x % 5 = 0 THEN NULL ELSE x::int8 * 1000003 END FROM generate_series(1, 20000) x;
         CREATE TABLE lo (ok int, line int, qty numeric(15,2), PRIMARY KEY (ok, line));
         INSERT INTO lo SELECT x / 7, x % 7, x % 50 + 1 FROM generate_series(1, 20000) x",
    );
    engine
        .txn_db()
        .db()
        .flush()
        .unwrap_or_else(|e| panic!("{e}"));
    let queries = [
        "SELECT flag, status, sum(qty), sum(price), sum(price * (1 - disc)), \
         sum(price * (1 - disc) * (1 + disc)), avg(qty), avg(price), avg(disc), count(*) \
         FROM li WHERE ship <= date '1998-12-01' - interval '90 days' GROUP BY flag, status",
        "SELECT sum(price * disc), count(n), avg(n), sum(n) FROM li \
         WHERE ship >= date '1998-03-01' AND ship < date '1998-09-01' AND disc BETWEEN 0.05 AND 0.07 \
         AND qty < 24",
        "SELECT ship, count(*), sum(-qty + n) FROM li WHERE status IS NULL GROUP BY ship \
         HAVING count(*) > 2",
        // Grouped by a prefix of the primary key: groups come one after another.
        "SELECT ok, sum(qty), count(*) FROM lo GROUP BY ok HAVING sum(qty) > 150",
        "SELECT line, ok, count(*), sum(qty) FROM lo WHERE qty > 3 GROUP BY line, ok",
        "SELECT ok, count(*) FROM lo WHERE ok BETWEEN 100 AND 900 GROUP BY ok",
    ];
    for q in queries {
        for parallel in ["0", "2"] {
            crate::test_support::workers(&mut s, parallel);
            let folded = rows(&mut s, q);
            assert!(!folded.is_empty(), "{q}");
            let unfolded = rows(&mut s, &filtered(q));
            assert_eq!(folded, unfolded, "{q}");
        }
    }
    // A grouped aggregation drops the groups HAVING rejects as it goes (`Aggregator::seal`):
    // the same groups as a hash aggregation's (keyed by `ok + 0`, which is not grouped).
    let havings = [
        "sum(qty) > 150",
        "count(*) = 6",
        "count(*) < 6",
        "sum(qty) > 1000",
        "min(ok) % 3 = 0 AND max(qty) - min(qty) > 40",
        "avg(qty) > (SELECT avg(qty) FROM lo)",
    ];
    for having in havings {
        for parallel in ["0", "2"] {
            crate::test_support::workers(&mut s, parallel);
            let q = |key: &str| {
                format!(
                    "SELECT {key}, sum(qty), count(*), avg(qty), min(line) \
                     FROM lo WHERE line <> 3 GROUP BY {key} HAVING {having} ORDER BY 1"
                )
            };
            let grouped = rows(&mut s, &q("ok"));
            assert_eq!(grouped, rows(&mut s, &q("ok + 0")), "{having}");
        }
    }
}

/// `q` with `FILTER (WHERE true)` after each aggregate call.
fn filtered(q: &str) -> String {
    let mut out = String::new();
    let mut rest = q;
    while let Some(at) = ["sum(", "avg(", "count("]
        .iter()
        .filter_map(|f| rest.find(f).map(|i| (i, f.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = &rest[i + len..];
        // The call's closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(rest.len(), |(j, _)| j + 1);
        out.push_str(&rest[..end]);
        out.push_str(" FILTER (WHERE true)");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
