//! Property tests: text and binary round-trips for every type, no panics on arbitrary input,
//! key order = `sort_cmp` order, `compare` consistent with `sort_cmp`.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use std::cmp::Ordering;

// ---------------------------------------------------------------- property tests

fn numeric_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (any::<i64>(), 0u32..12).prop_map(|(m, s)| {
            let n = numeric::Numeric::parse(&m.to_string()).unwrap();
            let scaled = n.div(&numeric::Numeric::parse(&format!("1{}", "0".repeat(s as usize))).unwrap()).unwrap();
            Value::Numeric(scaled.round_to(i64::from(s)))
        }),
        1 => Just(Value::Numeric(numeric::Numeric::nan())),
        1 => Just(Value::Numeric(numeric::Numeric::infinity())),
        1 => Just(Value::Numeric(numeric::Numeric::neg_infinity())),
    ]
}

fn f64_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => any::<f64>(),
        2 => (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
        1 => Just(f64::NAN),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn date_strategy() -> impl Strategy<Value = i32> {
    // 0001-01-01 ..= 9999-12-31
    prop_oneof![-730_119i32..2_921_939, Just(i32::MAX), Just(i32::MIN)]
}

fn ts_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -63_082_281_600_000_000i64..252_455_615_999_999_999,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

fn interval_strategy() -> impl Strategy<Value = Interval> {
    (
        -100_000i32..100_000,
        -100_000i32..100_000,
        -1_000_000_000_000_000i64..1_000_000_000_000_000,
    )
        .prop_map(|(m, d, us)| Interval {
            months: m,
            days: d,
            micros: us,
        })
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z \"\\\\{},\\x00]{0,8}",
        any::<String>(),
        Just("NULL".to_string()),
    ]
}

fn jsonb_strategy() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i32>().prop_map(serde_json::Value::from),
        "[a-c]{0,3}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-c]{0,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// (type, value) pairs of every type (non-null).
fn typed_value() -> impl Strategy<Value = (DataType, Value)> {
    prop_oneof![
        any::<bool>().prop_map(|b| (DataType::Bool, Value::Bool(b))),
        any::<i16>().prop_map(|v| (DataType::Int2, Value::Int2(v))),
        any::<i32>().prop_map(|v| (DataType::Int4, Value::Int4(v))),
        any::<i64>().prop_map(|v| (DataType::Int8, Value::Int8(v))),
        any::<u32>().prop_map(|v| (DataType::Oid, Value::Oid(v))),
        f64_strategy().prop_map(|v| (DataType::Float4, Value::Float4(v as f32))),
        f64_strategy().prop_map(|v| (DataType::Float8, Value::Float8(v))),
        numeric_strategy().prop_map(|v| (DataType::Numeric(None), v)),
        text_strategy().prop_map(|s| (DataType::Text, Value::Text(s.replace('\0', "")))),
        prop::collection::vec(any::<u8>(), 0..10).prop_map(|b| (DataType::Bytea, Value::Bytea(b))),
        date_strategy().prop_map(|d| (DataType::Date, Value::Date(d))),
        (0i64..=86_400_000_000).prop_map(|t| (DataType::Time(None), Value::Time(t))),
        ts_strategy().prop_map(|t| (DataType::Timestamp(None), Value::Timestamp(t))),
        ts_strategy().prop_map(|t| (DataType::Timestamptz(None), Value::Timestamptz(t))),
        interval_strategy().prop_map(|i| (DataType::Interval, Value::Interval(i))),
        any::<[u8; 16]>().prop_map(|u| (DataType::Uuid, Value::Uuid(u))),
        jsonb_strategy().prop_map(|j| (DataType::Jsonb, Value::Jsonb(j))),
        prop::collection::vec(prop::option::of(any::<i32>()), 0..5).prop_map(|v| {
            let items = v
                .into_iter()
                .map(|x| x.map(Value::Int4).unwrap_or(Value::Null))
                .collect();
            (
                DataType::Array(Box::new(DataType::Int4)),
                Value::Array(Box::new(DataType::Int4), items),
            )
        }),
        prop::collection::vec(prop::option::of(text_strategy()), 0..5).prop_map(|v| {
            let items = v
                .into_iter()
                .map(|x| {
                    x.map(|s| Value::Text(s.replace('\0', "")))
                        .unwrap_or(Value::Null)
                })
                .collect();
            (
                DataType::Array(Box::new(DataType::Text)),
                Value::Array(Box::new(DataType::Text), items),
            )
        }),
    ]
}

/// Equality that also distinguishes what `==` cannot (float NaN, -0, numeric scale).
fn same(a: &Value, b: &Value) -> bool {
    a.to_text() == b.to_text() && a.data_type() == b.data_type()
}

/// Two values of one type.
fn typed_pair() -> impl Strategy<Value = (Value, Value)> {
    typed_value().prop_flat_map(|(t, v)| {
        let t2 = t.clone();
        typed_value()
            .prop_filter("same type", move |(u, _)| u == &t2)
            .prop_map(move |(_, w)| (v.clone(), w))
            .boxed()
    })
}

fn pair_of<S: Strategy<Value = Value> + Clone>(s: S) -> impl Strategy<Value = (Value, Value)> {
    (s.clone(), prop_oneof![9 => s, 1 => Just(Value::Null)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trip((t, v) in typed_value()) {
        let s = v.to_text().unwrap();
        let back = Value::parse_text(&t, &s).unwrap();
        prop_assert!(same(&back, &v), "{t}: {s:?} -> {back:?}");
    }

    #[test]
    fn binary_round_trip((t, v) in typed_value()) {
        let mut b = Vec::new();
        v.to_binary(&mut b);
        let back = Value::from_binary(&t, &b).unwrap();
        prop_assert!(same(&back, &v), "{t}: {v:?} -> {back:?}");
        let mut b2 = Vec::new();
        back.to_binary(&mut b2);
        prop_assert_eq!(b, b2);
    }

    #[test]
    fn binary_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40), (t, _) in typed_value()) {
        let _ = Value::from_binary(&t, &bytes);
        let _ = Value::from_binary(&DataType::Array(Box::new(t)), &bytes);
    }

    #[test]
    fn text_never_panics(s in any::<String>(), (t, _) in typed_value()) {
        let _ = Value::parse_text(&t, &s);
    }

    #[test]
    fn key_order_matches_sort((a, b) in typed_pair()) {
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        encode_key(&a, &mut ka);
        encode_key(&b, &mut kb);
        prop_assert_eq!(ka.cmp(&kb), a.sort_cmp(&b), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn key_order_with_nulls((a, b) in pair_of(any::<i64>().prop_map(Value::Int8))) {
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        encode_key(&a, &mut ka);
        encode_key(&b, &mut kb);
        prop_assert_eq!(ka.cmp(&kb), a.sort_cmp(&b));
    }

    #[test]
    fn compare_agrees_with_sort((a, b) in typed_pair()) {
        if let Ok(Some(o)) = a.compare(&b) {
            prop_assert_eq!(o, a.sort_cmp(&b));
        }
        prop_assert_eq!(a.sort_cmp(&b), b.sort_cmp(&a).reverse());
    }

    #[test]
    fn numeric_cross_type_compare(i in any::<i32>(), f in -1e6f64..1e6) {
        let n = Value::Int4(i).cast(&DataType::Numeric(None)).unwrap();
        prop_assert_eq!(Value::Int4(i).compare(&n).unwrap(), Some(Ordering::Equal));
        let fl = Value::Float8(f);
        prop_assert_eq!(Value::Int4(i).compare(&fl).unwrap(), (f64::from(i)).partial_cmp(&f));
    }
}
