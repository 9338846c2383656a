//! The batch filter against the row-by-row filter it replaces (the model): for random rows of
//! every class of column (NULLs, NaNs, infinities, -0, numerics of many scales, columns the
//! stored row lacks) and random conjunctions of comparisons, lists, NULL tests, LIKEs and
//! ORs of such, a row comes out of the batch path exactly when `Expr::passes` passes it.

use proptest::prelude::*;

use super::{BatchFilter, Verdict};
use crate::catalog::TableDef;
use crate::expr::{EvalContext, Expr};
use crate::row::{decode_row, encode_row};
use crate::test_support::table_of;
use crate::types::{BinaryOp, DataType, Numeric, Value};

const DAY: i64 = 86_400_000_000;

fn types() -> Vec<DataType> {
    vec![
        DataType::Int4,
        DataType::Int8,
        DataType::Numeric(Some((15, 2))),
        DataType::Numeric(None),
        DataType::Date,
        DataType::Timestamp(None),
        DataType::Float8,
        DataType::Text,
        DataType::Char(Some(3)),
        DataType::Float4,
        DataType::Int2,
    ]
}

fn table(width: usize) -> TableDef {
    table_of(&types()[..width])
}

fn numeric(s: &str) -> Value {
    Numeric::parse(s).map_or(Value::Null, Value::Numeric)
}

/// A value of column `i`'s type (NULL now and then).
fn value(i: usize) -> BoxedStrategy<Value> {
    let v: BoxedStrategy<Value> = match i {
        0 => (-4i32..4).prop_map(Value::Int4).boxed(),
        1 => (-4i64..4).prop_map(Value::Int8).boxed(),
        2 => (-300i64..300)
            .prop_map(|c| numeric(&format!("{:.2}", c as f64 / 100.0)))
            .boxed(),
        3 => prop_oneof![
            (-300i64..300, 0u32..5).prop_map(|(d, s)| {
                let n = Numeric::parse(&d.to_string()).map(|n| {
                    let p =
                        Numeric::parse(&format!("1e{s}")).unwrap_or_else(|| Numeric::from_i64(1));
                    n.div(&p).unwrap_or(n)
                });
                n.map_or(Value::Null, |n| Value::Numeric(n.round_to(i64::from(s))))
            }),
            Just(numeric("NaN")),
            Just(numeric("Infinity")),
            Just(numeric("-Infinity")),
            Just(numeric("123456789012345678901234567890123456789.5")),
        ]
        .boxed(),
        4 => prop_oneof![
            (-3i32..3).prop_map(Value::Date),
            Just(Value::Date(i32::MAX))
        ]
        .boxed(),
        5 => (-3i64..3, prop::sample::select(vec![0, 1, DAY / 2]))
            .prop_map(|(d, off)| Value::Timestamp(d * DAY + off))
            .boxed(),
        6 => prop::sample::select(vec![-1.5, -0.0, 0.0, 0.5, 2.0, f64::NAN, f64::INFINITY])
            .prop_map(Value::Float8)
            .boxed(),
        7 => prop::sample::select(vec!["", "a", "ab", "b", "é", "aab", "bab", "abab", "xéb"])
            .prop_map(|s| Value::Text(s.to_string()))
            .boxed(),
        8 => prop::sample::select(vec!["a  ", "ab ", "b  "])
            .prop_map(|s| Value::Text(s.to_string()))
            .boxed(),
        9 => prop::sample::select(vec![-1.5f32, 0.0, 0.5, f32::NAN])
            .prop_map(Value::Float4)
            .boxed(),
        _ => (-4i16..4).prop_map(Value::Int2).boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 6 => v].boxed()
}

/// A constant that may or may not suit column `i`.
fn constant() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        (-4i32..4).prop_map(Value::Int4),
        (-4i64..4).prop_map(Value::Int8),
        (-300i64..300, 0u32..4).prop_map(|(d, s)| {
            let text = format!("{}", d as f64 / 10f64.powi(s as i32));
            numeric(&text)
        }),
        Just(numeric("0.005")),
        Just(numeric("NaN")),
        prop::sample::select(vec![-1.5, 0.0, 0.5, f64::NAN]).prop_map(Value::Float8),
        (-3i32..3).prop_map(Value::Date),
        (-3i64..3).prop_map(|d| Value::Timestamp(d * DAY + DAY / 2)),
        prop::sample::select(vec!["", "a", "ab", "ab ", "b", "é", "1"])
            .prop_map(|s| Value::Text(s.to_string())),
    ]
    .boxed()
}

fn op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Eq,
        BinaryOp::NotEq,
        BinaryOp::Lt,
        BinaryOp::LtEq,
        BinaryOp::Gt,
        BinaryOp::GtEq,
    ])
}

/// A conjunct the terms may compile (no OR).
fn simple(width: usize) -> BoxedStrategy<Expr> {
    let col = move || (0..width).prop_map(Expr::Column);
    let lit = || constant().prop_map(Expr::Literal);
    prop_oneof![
        4 => (op(), col(), lit()).prop_map(|(o, c, v)| Expr::Binary(o, Box::new(c), Box::new(v))),
        2 => (op(), lit(), col()).prop_map(|(o, v, c)| Expr::Binary(o, Box::new(v), Box::new(c))),
        2 => (op(), col(), col()).prop_map(|(o, a, b)| Expr::Binary(o, Box::new(a), Box::new(b))),
        2 => (col(), prop::collection::vec(lit(), 0..4), any::<bool>()).prop_map(|(c, list, negated)| {
            Expr::InList { expr: Box::new(c), list, negated }
        }),
        1 => (col(), any::<bool>()).prop_map(|(c, n)| Expr::IsNull(Box::new(c), n)),
        2 => (
            col(),
            prop::sample::select(vec![
                "%", "", "a%", "%b", "%a%", "a%b", "ab", "%é%", "a_", "%%", "a%%b", "%ab%b",
                "ab%ab", "\\%", "b  ", "%b ", "a%a%a",
            ]),
            any::<bool>(),
        )
            .prop_map(|(c, p, negated)| Expr::Like {
                expr: Box::new(c),
                pattern: Box::new(Expr::Literal(Value::Text(p.to_string()))),
                negated,
                case_insensitive: false,
                escape: None,
            }),
    ]
    .boxed()
}

/// An OR of conjunctions of simple conjuncts; with `lits`, some branches compare two
/// constants (no term: the whole OR is then left to the residual).
fn any_of(width: usize, lits: bool) -> BoxedStrategy<Expr> {
    let lit = || constant().prop_map(Expr::Literal);
    let leaf = if lits {
        prop_oneof![
            3 => simple(width),
            1 => (op(), lit(), lit()).prop_map(|(o, a, b)| Expr::Binary(o, Box::new(a), Box::new(b))),
        ]
        .boxed()
    } else {
        simple(width)
    };
    let branch = prop::collection::vec(leaf, 1..3).prop_map(|parts| {
        parts
            .into_iter()
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
            .unwrap_or(Expr::Literal(Value::Bool(true)))
    });
    prop::collection::vec(branch, 2..4)
        .prop_map(|branches| {
            branches
                .into_iter()
                .reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)))
                .unwrap_or(Expr::Literal(Value::Bool(false)))
        })
        .boxed()
}

fn conjunct(width: usize) -> BoxedStrategy<Expr> {
    prop_oneof![
        12 => simple(width),
        2 => any_of(width, false),
        1 => any_of(width, true),
    ]
    .boxed()
}

fn filter(width: usize) -> impl Strategy<Value = Expr> {
    prop::collection::vec(conjunct(width), 1..5).prop_map(|parts| {
        parts
            .into_iter()
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
            .unwrap_or(Expr::Literal(Value::Bool(true)))
    })
}

fn rows(width: usize) -> impl Strategy<Value = Vec<(Vec<Value>, bool)>> {
    let row = (0..width).map(value).collect::<Vec<_>>();
    prop::collection::vec((row, any::<bool>()), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn batch_filter_passes_what_the_filter_passes(rows in rows(11), f in filter(11)) {
        let t = table(11);
        // Rows stored before the last column was added lack it (it reads as NULL).
        let narrow = table(10);
        let ectx = EvalContext::constant();
        let raw: Vec<(Vec<u8>, Vec<u8>)> = rows
            .iter()
            .map(|(r, short)| match short {
                true => (Vec::new(), encode_row(&narrow, &r[..10])),
                false => (Vec::new(), encode_row(&t, r)),
            })
            .collect();
        let Some(mut batch) = BatchFilter::compile(&t, &f, &ectx) else {
            return Ok(());
        };
        batch.select(&raw.iter().cloned().collect());
        let verdicts = batch.verdicts().to_vec();
        for ((_, stored), verdict) in raw.iter().zip(&verdicts) {
            // A row looked at alone (a scan's prefilter) gets the chunk's verdict.
            prop_assert_eq!(batch.row_verdict(stored), *verdict, "filter {:?}", f);
        }
        for ((_, stored), verdict) in raw.iter().zip(&verdicts) {
            let row = decode_row(&t, stored).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let Ok(want) = f.passes(&row, &ectx) else {
                // An error the row-by-row filter raises may not be raised for a row a term
                // already failed.
                continue;
            };
            let got = match verdict {
                Verdict::Fail => false,
                Verdict::Pass => match batch.residual() {
                    Some((r, _)) => r.passes(&row, &ectx).unwrap_or(false),
                    None => true,
                },
                Verdict::Undecided => f.passes(&row, &ectx).unwrap_or(false),
            };
            prop_assert_eq!(got, want, "row {:?} filter {:?} verdict {:?}", row, f, verdict);
        }
    }
}

/// The TPC-H Q6 shape compiles whole (no residual), and each of its terms decides.
#[test]
fn q6_filter_compiles_whole() {
    let t = table(11);
    let ectx = EvalContext::constant();
    let cmp = |o, c, v| Expr::Binary(o, Box::new(Expr::Column(c)), Box::new(Expr::Literal(v)));
    let f = [
        cmp(BinaryOp::GtEq, 4, Value::Date(-1)),
        cmp(BinaryOp::Lt, 4, Value::Timestamp(DAY)),
        cmp(BinaryOp::GtEq, 2, numeric("0.05")),
        cmp(BinaryOp::LtEq, 2, numeric("0.07")),
        cmp(BinaryOp::Lt, 0, Value::Int4(3)),
    ]
    .into_iter()
    .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
    .unwrap_or(Expr::Literal(Value::Null));
    let Some(mut batch) = BatchFilter::compile(&t, &f, &ectx) else {
        panic!("the filter did not compile");
    };
    assert!(batch.residual().is_none());
    let row = |d: i32, price: &str, q: i32| {
        let mut r = vec![Value::Null; 11];
        r[0] = Value::Int4(q);
        r[2] = numeric(price);
        r[4] = Value::Date(d);
        (Vec::new(), encode_row(&t, &r))
    };
    let raw: orbit_lsm::Pairs = [
        row(0, "0.06", 2),  // passes
        row(1, "0.06", 2),  // too late: 1 day is not < DAY
        row(-2, "0.06", 2), // too early
        row(0, "0.04", 2),  // discount too low
        row(0, "0.07", 3),  // quantity too high
        row(-1, "0.05", 0), // passes at both bounds
    ]
    .into_iter()
    .collect();
    batch.select(&raw);
    use Verdict::{Fail, Pass};
    assert_eq!(batch.verdicts(), &[Pass, Fail, Fail, Fail, Fail, Pass]);
    let alone: Vec<Verdict> = raw.iter().map(|(_, v)| batch.row_verdict(v)).collect();
    assert_eq!(alone, [Pass, Fail, Fail, Fail, Fail, Pass]);
    // A malformed row: no term decides it.
    assert_eq!(batch.row_verdict(&[1, 200]), Verdict::Undecided);
}

/// The TPC-H Q19 shape: an OR of conjunctions (a text equality, an IN list, a range) compiles
/// into one term, and a row passes when one branch holds whole; an OR with a branch no term
/// holds is left to the residual.
#[test]
fn an_or_of_conjunctions_compiles_into_one_term() {
    let t = table(11);
    let ectx = EvalContext::constant();
    let cmp = |o, c, v| Expr::Binary(o, Box::new(Expr::Column(c)), Box::new(Expr::Literal(v)));
    let text = |s: &str| Value::Text(s.to_string());
    let and = |a, b| Expr::And(Box::new(a), Box::new(b));
    let or = |a, b| Expr::Or(Box::new(a), Box::new(b));
    let branch = |brand: &str, sizes: [i16; 2], hi: i32| {
        let list = sizes
            .iter()
            .map(|s| Expr::Literal(Value::Int2(*s)))
            .collect();
        let within = Expr::InList {
            expr: Box::new(Expr::Column(10)),
            list,
            negated: false,
        };
        and(
            and(cmp(BinaryOp::Eq, 7, text(brand)), within),
            cmp(BinaryOp::LtEq, 0, Value::Int4(hi)),
        )
    };
    let f = and(
        cmp(BinaryOp::GtEq, 0, Value::Int4(1)),
        or(
            branch("a", [1, 2], 5),
            or(branch("b", [3, 4], 10), branch("c", [5, 6], 15)),
        ),
    );
    let Some(mut batch) = BatchFilter::compile(&t, &f, &ectx) else {
        panic!("the filter did not compile");
    };
    assert!(batch.residual().is_none());
    let row = |brand: Option<&str>, size: i16, q: i32| {
        let mut r = vec![Value::Null; 11];
        r[0] = Value::Int4(q);
        r[7] = brand.map_or(Value::Null, text);
        r[10] = Value::Int2(size);
        (Vec::new(), encode_row(&t, &r))
    };
    let raw: orbit_lsm::Pairs = [
        row(Some("a"), 2, 5),  // the first branch
        row(Some("a"), 2, 6),  // the first branch's range fails, no other holds
        row(Some("b"), 4, 6),  // the second branch
        row(Some("c"), 1, 12), // the third branch's list fails
        row(None, 6, 12),      // NULL brand: no branch is true
        row(Some("c"), 6, 0),  // the conjunct before the OR fails
        row(Some("c"), 6, 15), // the third branch at its bound
    ]
    .into_iter()
    .collect();
    batch.select(&raw);
    use Verdict::{Fail, Pass};
    let want = [Pass, Fail, Pass, Fail, Fail, Fail, Pass];
    assert_eq!(batch.verdicts(), &want);
    let alone: Vec<Verdict> = raw.iter().map(|(_, v)| batch.row_verdict(v)).collect();
    assert_eq!(alone, want);
    // A branch comparing two constants has no term: the OR is the residual.
    let opaque = and(
        cmp(BinaryOp::GtEq, 0, Value::Int4(1)),
        or(
            branch("a", [1, 2], 5),
            Expr::Binary(
                BinaryOp::Eq,
                Box::new(Expr::Literal(Value::Int4(1))),
                Box::new(Expr::Literal(Value::Int4(2))),
            ),
        ),
    );
    let batch = BatchFilter::compile(&t, &opaque, &ectx).unwrap();
    assert!(matches!(batch.residual(), Some((Expr::Or(..), _))));
}

/// A conjunct that cannot compile (a numeric(38,20) column beside a float) does not widen the
/// shared scale past what the lanes hold: the other conjunct still compiles.
#[test]
fn an_unfit_conjunct_leaves_the_others_compiled() {
    let t = table_of(&[DataType::Int4, DataType::Numeric(Some((38, 20)))]);
    let ectx = EvalContext::constant();
    let f = Expr::And(
        Box::new(Expr::Binary(
            BinaryOp::Lt,
            Box::new(Expr::Column(0)),
            Box::new(Expr::Literal(Value::Int4(3))),
        )),
        Box::new(Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(1)),
            Box::new(Expr::Literal(Value::Float8(1.5))),
        )),
    );
    let Some(batch) = BatchFilter::compile(&t, &f, &ectx) else {
        panic!("nothing compiled");
    };
    let residual = batch.residual().map(|(e, _)| e);
    assert!(
        matches!(residual, Some(Expr::Binary(BinaryOp::Eq, _, _))),
        "{residual:?}"
    );
}

/// A stored numeric with digits finer than its display scale (no canonical encoding has
/// them; reading drops them) is left to the row path.
#[test]
fn digits_past_the_display_scale_are_undecided() {
    // 0.5 as ndigits 1, weight -1, sign +, dscale 0, digit 5000.
    let odd = [0, 1, 0xff, 0xff, 0, 0, 0, 0, 0x13, 0x88];
    assert_eq!(super::super::lanes::numeric_key(&odd, 2), None);
    let canonical = [0, 1, 0xff, 0xff, 0, 0, 0, 1, 0x13, 0x88];
    assert_eq!(super::super::lanes::numeric_key(&canonical, 2), Some(50));
}
