//! Tests of casts, assignment, operators, comparison, binary formats, keys and numeric
//! arithmetic.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::error::Error;
use std::cmp::Ordering;

fn p(ty: &DataType, s: &str) -> Value {
    Value::parse_text(ty, s).unwrap()
}

fn err(r: crate::error::Result<Value>) -> (String, String) {
    let e: Error = r.unwrap_err();
    (e.sqlstate().to_string(), e.to_string())
}

#[test]
fn casts() {
    let c = |v: Value, t: &DataType| v.cast(t).unwrap();
    assert_eq!(c(Value::Float8(2.5), &DataType::Int4), Value::Int4(2));
    assert_eq!(c(Value::Float8(3.5), &DataType::Int4), Value::Int4(4));
    assert_eq!(
        c(p(&DataType::Numeric(None), "2.5"), &DataType::Int4),
        Value::Int4(3)
    );
    assert_eq!(
        c(p(&DataType::Numeric(None), "-2.5"), &DataType::Int4),
        Value::Int4(-3)
    );
    assert_eq!(
        c(Value::Float8(0.1), &DataType::Numeric(None))
            .to_text()
            .unwrap(),
        "0.1"
    );
    assert_eq!(
        c(Value::Float8(1.0 / 3.0), &DataType::Numeric(None))
            .to_text()
            .unwrap(),
        "0.333333333333333"
    );
    assert_eq!(
        c(Value::Float4(1.1), &DataType::Numeric(None))
            .to_text()
            .unwrap(),
        "1.1"
    );
    assert_eq!(
        err(Value::Int8(1 << 40).cast(&DataType::Int4)),
        ("22003".into(), "integer out of range".into())
    );
    assert_eq!(
        err(Value::Float8(f64::NAN).cast(&DataType::Int4)).1,
        "integer out of range"
    );
    assert_eq!(c(Value::Bool(true), &DataType::Int4), Value::Int4(1));
    assert_eq!(c(Value::Int4(5), &DataType::Bool), Value::Bool(true));
    assert_eq!(
        c(Value::Bool(true), &DataType::Text),
        Value::Text("true".into())
    );
    assert_eq!(
        c(Value::Text("abcdef".into()), &DataType::Varchar(Some(3))),
        Value::Text("abc".into())
    );
    assert_eq!(
        c(Value::Text("ab".into()), &DataType::Char(Some(3))),
        Value::Text("ab ".into())
    );
    assert_eq!(
        c(Value::Text("42".into()), &DataType::Int8),
        Value::Int8(42)
    );
    assert_eq!(
        c(Value::Date(1), &DataType::Timestamptz(None)),
        Value::Timestamptz(86_400_000_000)
    );
    assert_eq!(
        c(Value::Timestamp(86_400_000_001), &DataType::Date),
        Value::Date(1)
    );
    assert_eq!(
        c(Value::Timestamp(86_400_000_001), &DataType::Time(None)),
        Value::Time(1)
    );
    assert_eq!(c(Value::Int4(-1), &DataType::Oid), Value::Oid(u32::MAX));
    assert_eq!(c(Value::Null, &DataType::Int4), Value::Null);
    assert_eq!(
        c(p(&DataType::Json, "{\"b\":1,\"a\":2}"), &DataType::Jsonb)
            .to_text()
            .unwrap(),
        "{\"a\": 2, \"b\": 1}"
    );
    assert_eq!(c(p(&DataType::Jsonb, "5"), &DataType::Int4), Value::Int4(5));
    let ia = p(&DataType::Array(Box::new(DataType::Int4)), "{1,2}");
    assert_eq!(
        c(ia, &DataType::Array(Box::new(DataType::Text)))
            .to_text()
            .unwrap(),
        "{1,2}"
    );
    assert_eq!(
        err(Value::Bool(true).cast(&DataType::Date)),
        ("42846".into(), "cannot cast type boolean to date".into())
    );
    assert_eq!(
        c(
            Value::Numeric(numeric::Numeric::parse("1.005").unwrap()),
            &DataType::Numeric(Some((5, 2)))
        )
        .to_text()
        .unwrap(),
        "1.01"
    );
}

#[test]
fn assignment() {
    assert_eq!(
        err(Value::Text("abcd".into()).assign(&DataType::Varchar(Some(3)))).0,
        "22001"
    );
    assert_eq!(
        Value::Text("abc  ".into())
            .assign(&DataType::Varchar(Some(3)))
            .unwrap(),
        Value::Text("abc".into())
    );
    assert_eq!(
        Value::Text("12".into()).assign(&DataType::Int4).unwrap(),
        Value::Int4(12)
    );
    assert_eq!(
        Value::Int8(12).assign(&DataType::Int2).unwrap(),
        Value::Int2(12)
    );
    assert_eq!(
        err(Value::Int8(1 << 20).assign(&DataType::Int2)).1,
        "smallint out of range"
    );
    assert_eq!(
        Value::Float8(2.5).assign(&DataType::Int4).unwrap(),
        Value::Int4(2)
    );
    assert_eq!(
        Value::Int4(7).assign(&DataType::Text).unwrap(),
        Value::Text("7".into())
    );
    assert_eq!(
        err(Value::Bool(true).assign(&DataType::Int4)),
        (
            "42804".into(),
            "cannot assign a value of type boolean to type integer".into()
        )
    );
    assert_eq!(err(Value::Int4(1).assign(&DataType::Bool)).0, "42804");
    assert_eq!(
        Value::Date(0).assign(&DataType::Timestamp(None)).unwrap(),
        Value::Timestamp(0)
    );
    assert!(Value::implicit_cast_ok(&DataType::Int2, &DataType::Int8));
    assert!(Value::implicit_cast_ok(
        &DataType::Int8,
        &DataType::Numeric(None)
    ));
    assert!(!Value::implicit_cast_ok(&DataType::Int8, &DataType::Int4));
    assert!(Value::implicit_cast_ok(&DataType::Unknown, &DataType::Date));
    assert!(!Value::implicit_cast_ok(
        &DataType::Float8,
        &DataType::Numeric(None)
    ));
}

fn bin(op: BinaryOp, a: Value, b: Value) -> Value {
    Value::binary(op, &a, &b).unwrap()
}

#[test]
fn result_types() {
    use BinaryOp as B;
    use DataType as T;
    let rt = |op, a: &T, b: &T| ops::result_type(op, a, b).unwrap();
    assert_eq!(rt(B::Add, &T::Int2, &T::Int2), T::Int2);
    assert_eq!(rt(B::Add, &T::Int2, &T::Int4), T::Int4);
    assert_eq!(rt(B::Mul, &T::Int4, &T::Int8), T::Int8);
    assert_eq!(rt(B::Add, &T::Int4, &T::Numeric(None)), T::Numeric(None));
    assert_eq!(rt(B::Add, &T::Float4, &T::Float4), T::Float4);
    assert_eq!(rt(B::Add, &T::Float4, &T::Int4), T::Float8);
    assert_eq!(rt(B::Add, &T::Numeric(None), &T::Float4), T::Float8);
    assert_eq!(rt(B::Pow, &T::Int4, &T::Int4), T::Float8);
    assert_eq!(rt(B::Lt, &T::Int4, &T::Float8), T::Bool);
    assert_eq!(rt(B::Concat, &T::Varchar(None), &T::Text), T::Text);
    assert_eq!(
        rt(B::Concat, &T::Array(Box::new(T::Int4)), &T::Int4),
        T::Array(Box::new(T::Int4))
    );
    assert_eq!(rt(B::Add, &T::Date, &T::Int4), T::Date);
    assert_eq!(rt(B::Sub, &T::Date, &T::Date), T::Int4);
    assert_eq!(rt(B::Add, &T::Date, &T::Interval), T::Timestamp(None));
    assert_eq!(
        rt(B::Sub, &T::Timestamptz(None), &T::Interval),
        T::Timestamptz(None)
    );
    assert_eq!(
        rt(B::Sub, &T::Timestamp(None), &T::Timestamp(None)),
        T::Interval
    );
    assert_eq!(rt(B::Mul, &T::Interval, &T::Float8), T::Interval);
    assert_eq!(rt(B::JsonGet, &T::Jsonb, &T::Int4), T::Jsonb);
    assert_eq!(rt(B::JsonGetText, &T::Json, &T::Unknown), T::Text);
    assert_eq!(rt(B::JsonContains, &T::Jsonb, &T::Jsonb), T::Bool);
    assert_eq!(rt(B::Eq, &T::Int4, &T::Unknown), T::Bool);
    assert_eq!(rt(B::Add, &T::Unknown, &T::Int8), T::Int8);
    let e = ops::result_type(B::Add, &T::Int4, &T::Bool).unwrap_err();
    assert_eq!(
        (e.sqlstate(), e.to_string().as_str()),
        ("42883", "operator does not exist: integer + boolean")
    );
}

#[test]
fn arithmetic() {
    use BinaryOp as B;
    assert_eq!(bin(B::Add, Value::Int2(1), Value::Int2(2)), Value::Int2(3));
    assert_eq!(bin(B::Add, Value::Int4(1), Value::Int8(2)), Value::Int8(3));
    assert_eq!(
        err(Value::binary(
            B::Add,
            &Value::Int4(i32::MAX),
            &Value::Int4(1)
        )),
        ("22003".into(), "integer out of range".into())
    );
    assert_eq!(
        err(Value::binary(
            B::Mul,
            &Value::Int8(i64::MAX),
            &Value::Int8(2)
        ))
        .1,
        "bigint out of range"
    );
    assert_eq!(
        err(Value::binary(
            B::Add,
            &Value::Int2(i16::MAX),
            &Value::Int2(1)
        ))
        .1,
        "smallint out of range"
    );
    assert_eq!(
        err(Value::binary(B::Div, &Value::Int4(1), &Value::Int4(0))),
        ("22012".into(), "division by zero".into())
    );
    assert_eq!(
        err(Value::binary(
            B::Div,
            &Value::Float8(1.0),
            &Value::Float8(0.0)
        ))
        .0,
        "22012"
    );
    assert_eq!(
        bin(B::Div, Value::Int4(-7), Value::Int4(2)),
        Value::Int4(-3)
    );
    assert_eq!(
        bin(B::Mod, Value::Int4(-7), Value::Int4(2)),
        Value::Int4(-1)
    );
    assert_eq!(
        bin(
            B::Div,
            Value::Numeric(numeric::Numeric::from_i64(1)),
            Value::Int4(3)
        )
        .to_text()
        .unwrap(),
        "0.33333333333333333333"
    );
    assert_eq!(
        bin(B::Pow, Value::Int4(2), Value::Int4(10)),
        Value::Float8(1024.0)
    );
    assert_eq!(
        bin(B::Add, Value::Float4(1.5), Value::Int4(1)),
        Value::Float8(2.5)
    );
    assert_eq!(
        err(Value::binary(
            B::Mul,
            &Value::Float8(1e300),
            &Value::Float8(1e300)
        ))
        .1,
        "value out of range: overflow"
    );
    assert_eq!(
        bin(B::Add, Value::Text("5".into()), Value::Int4(1)),
        Value::Int4(6)
    );
    assert_eq!(
        bin(B::Eq, Value::Int4(5), Value::Text("5".into())),
        Value::Bool(true)
    );
    assert_eq!(bin(B::Add, Value::Int4(1), Value::Null), Value::Null);
    assert_eq!(
        bin(B::Concat, Value::Text("a".into()), Value::Int4(1)),
        Value::Text("a1".into())
    );
    assert_eq!(
        bin(B::BitAnd, Value::Int4(6), Value::Int4(3)),
        Value::Int4(2)
    );
    assert_eq!(
        bin(B::ShiftLeft, Value::Int8(1), Value::Int4(40)),
        Value::Int8(1 << 40)
    );
    assert_eq!(
        Value::Int4(i32::MIN).negate().unwrap_err().to_string(),
        "integer out of range"
    );
}

#[test]
fn temporal_arithmetic() {
    use BinaryOp as B;
    let d = |s| p(&DataType::Date, s);
    let ts = |s| p(&DataType::Timestamp(None), s);
    let iv = |s| p(&DataType::Interval, s);
    assert_eq!(
        bin(B::Add, d("2024-01-31"), Value::Int4(1)),
        d("2024-02-01")
    );
    assert_eq!(
        bin(B::Sub, d("2024-03-01"), d("2024-02-01")),
        Value::Int4(29)
    );
    assert_eq!(
        bin(B::Add, d("2024-01-31"), iv("1 mon")).to_text().unwrap(),
        "2024-02-29 00:00:00"
    );
    assert_eq!(
        bin(B::Sub, ts("2024-01-02 01:00"), ts("2024-01-01"))
            .to_text()
            .unwrap(),
        "1 day 01:00:00"
    );
    assert_eq!(
        bin(
            B::Add,
            ts("2024-01-01"),
            Value::Text("1 day 2 hours".into())
        )
        .to_text()
        .unwrap(),
        "2024-01-02 02:00:00"
    );
    assert_eq!(
        bin(B::Mul, iv("1 day"), Value::Float8(1.5))
            .to_text()
            .unwrap(),
        "1 day 12:00:00"
    );
    assert_eq!(
        bin(B::Add, iv("1 day"), iv("-2 hours")).to_text().unwrap(),
        "1 day -02:00:00"
    );
    assert_eq!(bin(B::Eq, iv("1 mon"), iv("30 days")), Value::Bool(true));
    assert_eq!(
        bin(B::Lt, d("2024-01-01"), ts("2024-01-01 00:00:01")),
        Value::Bool(true)
    );
}

#[test]
fn comparisons_and_sort() {
    let cmp = |a: Value, b: Value| a.compare(&b).unwrap();
    assert_eq!(
        cmp(
            Value::Int4(1),
            Value::Numeric(numeric::Numeric::parse("1.0").unwrap())
        ),
        Some(Ordering::Equal)
    );
    assert_eq!(
        cmp(Value::Int8(2), Value::Float8(1.5)),
        Some(Ordering::Greater)
    );
    assert_eq!(cmp(Value::Null, Value::Int4(1)), None);
    assert_eq!(
        cmp(Value::Float8(f64::NAN), Value::Float8(f64::INFINITY)),
        Some(Ordering::Greater)
    );
    assert_eq!(
        cmp(Value::Float8(-0.0), Value::Float8(0.0)),
        Some(Ordering::Equal)
    );
    assert_eq!(
        cmp(Value::Text("b".into()), Value::Text("a".into())),
        Some(Ordering::Greater)
    );
    assert_eq!(
        cmp(Value::Date(0), Value::Text("2000-01-02".into())),
        Some(Ordering::Less)
    );
    let e = Value::Int4(1).compare(&Value::Bool(true)).unwrap_err();
    assert_eq!(
        (e.sqlstate(), e.to_string().as_str()),
        ("42883", "operator does not exist: integer = boolean")
    );
    assert_eq!(Value::Null.sort_cmp(&Value::Int4(1)), Ordering::Greater);
    assert_eq!(
        Value::Float8(f64::NAN).sort_cmp(&Value::Float8(1.0)),
        Ordering::Greater
    );
    assert_eq!(
        Value::Int4(5).as_bool().unwrap_err().to_string(),
        "argument must be type boolean, not type integer"
    );
    assert_eq!(Value::Text("yes".into()).as_bool().unwrap(), Some(true));
    assert_eq!(Value::Int2(3).as_i64().unwrap(), Some(3));
    assert_eq!(
        Value::Numeric(numeric::Numeric::from_i64(3)).data_type(),
        DataType::Numeric(None)
    );
}

#[test]
fn binary_formats() {
    let rt = |v: Value, t: &DataType| {
        let mut b = Vec::new();
        v.to_binary(&mut b);
        assert_eq!(Value::from_binary(t, &b).unwrap(), v, "{t}");
        b
    };
    assert_eq!(rt(Value::Int4(1), &DataType::Int4), [0, 0, 0, 1]);
    assert_eq!(rt(Value::Date(1), &DataType::Date), [0, 0, 0, 1]);
    assert_eq!(
        rt(
            p(&DataType::Interval, "1 mon 2 days 00:00:01"),
            &DataType::Interval
        ),
        [0, 0, 0, 0, 0, 0x0f, 0x42, 0x40, 0, 0, 0, 2, 0, 0, 0, 1]
    );
    assert_eq!(
        rt(p(&DataType::Jsonb, "{\"a\":1}"), &DataType::Jsonb),
        b"\x01{\"a\": 1}"
    );
    let arr = p(&DataType::Array(Box::new(DataType::Int4)), "{1,NULL}");
    let b = rt(arr, &DataType::Array(Box::new(DataType::Int4)));
    assert_eq!(
        b,
        [
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1,
            0xff, 0xff, 0xff, 0xff
        ]
    );
    assert_eq!(
        Value::from_binary(&DataType::Array(Box::new(DataType::Int8)), &b)
            .unwrap_err()
            .sqlstate(),
        "42804"
    );
    assert_eq!(
        Value::from_binary(&DataType::Int4, &[0, 1])
            .unwrap_err()
            .sqlstate(),
        "22P03"
    );
    assert_eq!(
        Value::from_binary(&DataType::Text, &[0xff])
            .unwrap_err()
            .to_string(),
        "invalid byte sequence for encoding \"UTF8\": 0xff"
    );
    assert!(Value::from_binary(
        &DataType::Array(Box::new(DataType::Int4)),
        &[0, 0, 0, 1, 0, 0]
    )
    .is_err());
    assert!(Value::from_binary(&DataType::Numeric(None), &[0, 5, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn keys_order() {
    let k = |v: &Value| {
        let mut b = Vec::new();
        encode_key(v, &mut b);
        b
    };
    assert_eq!(k(&Value::Int2(5)), k(&Value::Int8(5)));
    assert!(k(&Value::Int4(-1)) < k(&Value::Int4(0)));
    assert!(k(&Value::Int4(i32::MAX)) < k(&Value::Null));
    assert!(k(&Value::Text("a".into())) < k(&Value::Text("a\0".into())));
    assert!(k(&Value::Text("a\0".into())) < k(&Value::Text("ab".into())));
    assert_eq!(k(&Value::Float8(-0.0)), k(&Value::Float8(0.0)));
    assert!(k(&Value::Float8(f64::INFINITY)) < k(&Value::Float8(f64::NAN)));
    let n = |s: &str| Value::Numeric(numeric::Numeric::parse(s).unwrap());
    assert_eq!(k(&n("1.50")), k(&n("1.5")));
    let sorted = [
        "-Infinity",
        "-100",
        "-1.5",
        "-1.23",
        "-0.001",
        "0",
        "0.001",
        "1.23",
        "1.5",
        "100",
        "Infinity",
        "NaN",
    ];
    for w in sorted.windows(2) {
        assert!(k(&n(w[0])) < k(&n(w[1])), "{} < {}", w[0], w[1]);
    }
    let mut two = k(&Value::Text("a".into()));
    two.extend(k(&Value::Int4(9)));
    let mut three = k(&Value::Text("ab".into()));
    three.extend(k(&Value::Int4(1)));
    assert!(two < three);
}

mod numeric_unit {
    use super::numeric::Numeric;

    fn n(s: &str) -> Numeric {
        Numeric::parse(s).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(n("1.50").to_string(), "1.50");
        assert_eq!(n(" -0.001 ").to_string(), "-0.001");
        assert_eq!(n("1e5").to_string(), "100000");
        assert_eq!(n("1.5e-3").to_string(), "0.0015");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("NaN").to_string(), "NaN");
        assert_eq!(n("-inf").to_string(), "-Infinity");
        assert!(Numeric::parse("abc").is_none());
        assert!(Numeric::parse("1e").is_none());
        assert!(Numeric::parse("").is_none());
    }

    #[test]
    fn division_scale() {
        assert_eq!(
            n("1").div(&n("3")).unwrap().to_string(),
            "0.33333333333333333333"
        );
        assert_eq!(
            n("10").div(&n("4")).unwrap().to_string(),
            "2.5000000000000000"
        );
        assert_eq!(
            n("2").pow(&n("10")).unwrap().to_string(),
            "1024.0000000000000000"
        );
    }

    #[test]
    fn typmod() {
        assert_eq!(n("1.005").apply_typmod(5, 2).unwrap().to_string(), "1.01");
        assert_eq!(n("-1.005").apply_typmod(5, 2).unwrap().to_string(), "-1.01");
        let e = n("1000").apply_typmod(5, 2).unwrap_err();
        assert_eq!(e.to_string(), "numeric field overflow");
        assert_eq!(
            e.detail(),
            Some(
                "A field with precision 5, scale 2 must round to an absolute value less than 10^3."
            )
        );
    }

    #[test]
    fn binary() {
        for s in [
            "0",
            "1.50",
            "-12345.6789",
            "0.0001",
            "10000",
            "NaN",
            "-Infinity",
            "123456789012345678901234567890.1",
        ] {
            let mut b = Vec::new();
            n(s).to_binary(&mut b);
            assert_eq!(Numeric::from_binary(&b).unwrap().to_string(), s);
        }
        let mut b = Vec::new();
        n("-12345.6789").to_binary(&mut b);
        assert_eq!(b, [0, 3, 0, 1, 0x40, 0, 0, 4, 0, 1, 0x09, 0x29, 0x1a, 0x85]);
    }
}
