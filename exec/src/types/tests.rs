//! Tests of type names, OIDs, sqlparser types and text input/output: PostgreSQL's exact
//! outputs and the SQLSTATEs and messages of bad input.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::error::Error;

fn p(ty: &DataType, s: &str) -> Value {
    Value::parse_text(ty, s).unwrap()
}

fn out(ty: &DataType, s: &str) -> String {
    p(ty, s).to_text().unwrap()
}

fn err(r: crate::error::Result<Value>) -> (String, String) {
    let e: Error = r.unwrap_err();
    (e.sqlstate().to_string(), e.to_string())
}

#[test]
fn datatype_names_and_oids() {
    assert_eq!(DataType::Int4.oid(), 23);
    assert_eq!(
        DataType::Array(Box::new(DataType::Varchar(Some(3)))).oid(),
        1015
    );
    assert_eq!(
        DataType::from_oid(1007),
        Some(DataType::Array(Box::new(DataType::Int4)))
    );
    assert_eq!(DataType::from_oid(1042), Some(DataType::Char(None)));
    assert_eq!(DataType::Numeric(Some((10, 2))).display(), "numeric(10,2)");
    assert_eq!(
        DataType::Varchar(Some(20)).to_string(),
        "character varying(20)"
    );
    assert_eq!(
        DataType::Array(Box::new(DataType::Varchar(Some(20)))).display(),
        "character varying(20)[]"
    );
    assert_eq!(DataType::InternalChar.display(), "\"char\"");
    assert_eq!(
        DataType::Timestamptz(None).display(),
        "timestamp with time zone"
    );
    assert_eq!(DataType::Array(Box::new(DataType::Int4)).typname(), "_int4");
    assert_eq!(DataType::Char(Some(5)).typname(), "bpchar");
    assert_eq!(DataType::Uuid.typlen(), 16);
    assert_eq!(DataType::Text.typlen(), -1);
    for oid in [
        16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184,
        1186, 1700, 2950, 3802, 1000, 1005, 1007, 1016, 1009, 1021, 1022, 1231, 1015, 1014, 1001,
        1182, 1183, 1115, 1185, 1187, 2951, 199, 3807, 1003, 1028, 1002,
    ] {
        assert_eq!(DataType::from_oid(oid).unwrap().oid(), oid, "{oid}");
    }
}

fn parse_sql_type(s: &str) -> crate::error::Result<DataType> {
    use sqlparser::ast::Statement;
    use sqlparser::dialect::PostgreSqlDialect;
    let sql = format!("CREATE TABLE t (c {s})");
    let stmts = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, &sql).unwrap();
    match stmts.first() {
        Some(Statement::CreateTable(ct)) => {
            DataType::from_sql(&ct.columns.first().unwrap().data_type)
        }
        _ => panic!("not a create table"),
    }
}

#[test]
fn datatype_from_sql() {
    let cases: &[(&str, DataType)] = &[
        ("smallint", DataType::Int2),
        ("int2", DataType::Int2),
        ("int", DataType::Int4),
        ("integer", DataType::Int4),
        ("int4", DataType::Int4),
        ("bigint", DataType::Int8),
        ("int8", DataType::Int8),
        ("real", DataType::Float4),
        ("float4", DataType::Float4),
        ("double precision", DataType::Float8),
        ("float8", DataType::Float8),
        ("float", DataType::Float8),
        ("float(24)", DataType::Float4),
        ("float(25)", DataType::Float8),
        ("numeric", DataType::Numeric(None)),
        ("numeric(10,2)", DataType::Numeric(Some((10, 2)))),
        ("decimal(5)", DataType::Numeric(Some((5, 0)))),
        ("text", DataType::Text),
        ("varchar(3)", DataType::Varchar(Some(3))),
        ("varchar", DataType::Varchar(None)),
        ("character varying(20)", DataType::Varchar(Some(20))),
        ("char(5)", DataType::Char(Some(5))),
        ("character(2)", DataType::Char(Some(2))),
        ("char", DataType::Char(Some(1))),
        ("bpchar", DataType::Char(None)),
        ("boolean", DataType::Bool),
        ("bool", DataType::Bool),
        ("bytea", DataType::Bytea),
        ("date", DataType::Date),
        ("time", DataType::Time(None)),
        ("time without time zone", DataType::Time(None)),
        ("timestamp", DataType::Timestamp(None)),
        ("timestamp without time zone", DataType::Timestamp(None)),
        ("timestamptz", DataType::Timestamptz(None)),
        ("timestamp with time zone", DataType::Timestamptz(None)),
        ("timestamp(0)", DataType::Timestamp(Some(0))),
        (
            "timestamp(3) without time zone",
            DataType::Timestamp(Some(3)),
        ),
        (
            "timestamp(9) with time zone",
            DataType::Timestamptz(Some(6)),
        ),
        ("timestamptz(2)", DataType::Timestamptz(Some(2))),
        ("time(1)", DataType::Time(Some(1))),
        ("pg_catalog.time(4)", DataType::Time(Some(4))),
        ("interval", DataType::Interval),
        ("uuid", DataType::Uuid),
        ("json", DataType::Json),
        ("jsonb", DataType::Jsonb),
        ("name", DataType::Name),
        ("oid", DataType::Oid),
        ("\"char\"", DataType::InternalChar),
        ("int[]", DataType::Array(Box::new(DataType::Int4))),
        ("integer[][]", DataType::Array(Box::new(DataType::Int4))),
        ("text ARRAY", DataType::Array(Box::new(DataType::Text))),
        (
            "varchar(3)[]",
            DataType::Array(Box::new(DataType::Varchar(Some(3)))),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(&parse_sql_type(s).unwrap(), want, "{s}");
    }
    let e = parse_sql_type("foo").unwrap_err();
    assert_eq!(
        (e.sqlstate(), e.to_string().as_str()),
        ("42704", "type \"foo\" does not exist")
    );
    assert_eq!(
        parse_sql_type("numeric(0)").unwrap_err().sqlstate(),
        "22023"
    );
    assert_eq!(
        parse_sql_type("numeric(3,5)").unwrap_err().sqlstate(),
        "22023"
    );
    for s in ["serial", "bigserial", "smallserial"] {
        let _ = parse_sql_type(s);
    }
}

#[test]
fn bool_and_ints() {
    for (s, v) in [
        ("t", true),
        (" TRUE ", true),
        ("yes", true),
        ("on", true),
        ("1", true),
        ("tr", true),
        ("f", false),
        ("off", false),
        ("no", false),
        ("0", false),
    ] {
        assert_eq!(p(&DataType::Bool, s), Value::Bool(v), "{s}");
    }
    assert_eq!(err(Value::parse_text(&DataType::Bool, "o")).0, "22P02");
    assert_eq!(p(&DataType::Int4, " -42 "), Value::Int4(-42));
    assert_eq!(p(&DataType::Int2, "+7"), Value::Int2(7));
    assert_eq!(
        err(Value::parse_text(&DataType::Int4, "abc")),
        (
            "22P02".into(),
            "invalid input syntax for type integer: \"abc\"".into()
        )
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Int4, "99999999999")),
        (
            "22003".into(),
            "value \"99999999999\" is out of range for type integer".into()
        )
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Int2, "40000")).1,
        "value \"40000\" is out of range for type smallint"
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Int8, "")).1,
        "invalid input syntax for type bigint: \"\""
    );
    assert_eq!(Value::Bool(true).to_text().unwrap(), "t");
    assert_eq!(Value::Null.to_text(), None);
}

#[test]
fn floats() {
    let f8 = |s: &str| out(&DataType::Float8, s);
    assert_eq!(f8("1.5"), "1.5");
    assert_eq!(f8("0.1"), "0.1");
    assert_eq!(f8("1e20"), "1e+20");
    assert_eq!(f8("1e15"), "1e+15");
    assert_eq!(f8("123456789012345"), "123456789012345");
    assert_eq!(f8("1.2345e-05"), "1.2345e-05");
    assert_eq!(f8("0.0001"), "0.0001");
    assert_eq!(f8("-0"), "-0");
    assert_eq!(f8("NaN"), "NaN");
    assert_eq!(f8("inf"), "Infinity");
    assert_eq!(f8("-Infinity"), "-Infinity");
    assert_eq!(out(&DataType::Float4, "1e6"), "1e+06");
    assert_eq!(out(&DataType::Float4, "100000"), "100000");
    assert_eq!(out(&DataType::Float4, "0.1"), "0.1");
    assert_eq!(
        err(Value::parse_text(&DataType::Float8, "1e400")),
        (
            "22003".into(),
            "\"1e400\" is out of range for type double precision".into()
        )
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Float8, "x")).1,
        "invalid input syntax for type double precision: \"x\""
    );
}

#[test]
fn numerics() {
    let n52 = DataType::Numeric(Some((5, 2)));
    assert_eq!(out(&n52, "1.005"), "1.01");
    assert_eq!(out(&DataType::Numeric(None), "1.50"), "1.50");
    assert_eq!(out(&DataType::Numeric(None), "NaN"), "NaN");
    let e = Value::parse_text(&n52, "1000").unwrap_err();
    assert_eq!(e.sqlstate(), "22003");
    assert_eq!(e.to_string(), "numeric field overflow");
    assert_eq!(
        e.detail(),
        Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3.")
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Numeric(None), "1.2.3")).1,
        "invalid input syntax for type numeric: \"1.2.3\""
    );
}

#[test]
fn strings() {
    let v3 = DataType::Varchar(Some(3));
    assert_eq!(out(&v3, "abc  "), "abc");
    assert_eq!(
        err(Value::parse_text(&v3, "abcd")),
        (
            "22001".into(),
            "value too long for type character varying(3)".into()
        )
    );
    assert_eq!(out(&DataType::Char(Some(5)), "ab"), "ab   ");
    assert_eq!(
        err(Value::parse_text(&DataType::Char(Some(2)), "abc")).1,
        "value too long for type character(2)"
    );
    assert_eq!(out(&DataType::Name, &"x".repeat(70)).len(), 63);
    assert_eq!(out(&DataType::InternalChar, "rel"), "r");
    assert_eq!(out(&DataType::Oid, "-1"), "4294967295");
    assert_eq!(
        err(Value::parse_text(&DataType::Oid, "4294967296")).0,
        "22003"
    );
}

#[test]
fn bytea_and_uuid() {
    assert_eq!(p(&DataType::Bytea, "\\x0a0B"), Value::Bytea(vec![10, 11]));
    assert_eq!(
        p(&DataType::Bytea, "a\\\\b\\001"),
        Value::Bytea(vec![b'a', b'\\', b'b', 1])
    );
    assert_eq!(Value::Bytea(vec![10, 11]).to_text().unwrap(), "\\x0a0b");
    assert_eq!(
        err(Value::parse_text(&DataType::Bytea, "\\x0g")).1,
        "invalid hexadecimal digit: \"g\""
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Bytea, "\\x0")).1,
        "invalid hexadecimal data: odd number of digits"
    );
    let want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    for s in [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
    ] {
        assert_eq!(out(&DataType::Uuid, s), want, "{s}");
    }
    assert_eq!(
        err(Value::parse_text(&DataType::Uuid, "a0eebc99")).1,
        "invalid input syntax for type uuid: \"a0eebc99\""
    );
}

#[test]
fn dates_and_times() {
    assert_eq!(out(&DataType::Date, "2024-01-31"), "2024-01-31");
    assert_eq!(out(&DataType::Date, "2024-1-5"), "2024-01-05");
    assert_eq!(out(&DataType::Date, "Jan 31 2024"), "2024-01-31");
    assert_eq!(out(&DataType::Date, "31 January 2024"), "2024-01-31");
    assert_eq!(out(&DataType::Date, "1/31/2024"), "2024-01-31");
    assert_eq!(out(&DataType::Date, "epoch"), "1970-01-01");
    assert_eq!(out(&DataType::Date, "infinity"), "infinity");
    assert_eq!(out(&DataType::Date, "0001-01-01"), "0001-01-01");
    assert_eq!(out(&DataType::Date, "9999-12-31"), "9999-12-31");
    assert_eq!(p(&DataType::Date, "2000-01-01"), Value::Date(0));
    assert_eq!(
        err(Value::parse_text(&DataType::Date, "2024-13-01")),
        (
            "22008".into(),
            "date/time field value out of range: \"2024-13-01\"".into()
        )
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Date, "2023-02-29")).0,
        "22008"
    );
    assert_eq!(
        err(Value::parse_text(&DataType::Date, "abc")),
        (
            "22007".into(),
            "invalid input syntax for type date: \"abc\"".into()
        )
    );
    assert_eq!(out(&DataType::Time(None), "04:05"), "04:05:00");
    assert_eq!(out(&DataType::Time(None), "04:05:06.500"), "04:05:06.5");
    assert_eq!(out(&DataType::Time(None), "24:00:00"), "24:00:00");
    assert_eq!(
        err(Value::parse_text(&DataType::Time(None), "25:00")).0,
        "22008"
    );
    let ts = DataType::Timestamp(None);
    assert_eq!(
        out(&ts, "2024-01-31 04:05:06.123"),
        "2024-01-31 04:05:06.123"
    );
    assert_eq!(out(&ts, "2024-01-31T04:05:06"), "2024-01-31 04:05:06");
    assert_eq!(out(&ts, "2024-01-31"), "2024-01-31 00:00:00");
    assert_eq!(out(&ts, "2024-01-31 04:05:06+02"), "2024-01-31 04:05:06");
    assert_eq!(out(&ts, "-infinity"), "-infinity");
    let tz = DataType::Timestamptz(None);
    assert_eq!(
        out(&tz, "2024-01-31 04:05:06.123"),
        "2024-01-31 04:05:06.123+00"
    );
    assert_eq!(out(&tz, "2024-01-31 04:05:06+02"), "2024-01-31 02:05:06+00");
    assert_eq!(
        out(&tz, "2024-01-31 04:05:06+02:30"),
        "2024-01-31 01:35:06+00"
    );
    assert_eq!(
        out(&tz, "2024-01-31 04:05:06-0530"),
        "2024-01-31 09:35:06+00"
    );
    assert_eq!(out(&tz, "2024-01-31T04:05:06Z"), "2024-01-31 04:05:06+00");
    assert_eq!(
        out(&tz, "2024-01-31 04:05:06 UTC"),
        "2024-01-31 04:05:06+00"
    );
    assert_eq!(out(&tz, "2024-01-01 00:30:00+01"), "2023-12-31 23:30:00+00");
}

#[test]
fn intervals() {
    let iv = DataType::Interval;
    assert_eq!(
        out(&iv, "1 year 2 mons 3 days 04:05:06.5"),
        "1 year 2 mons 3 days 04:05:06.5"
    );
    assert_eq!(out(&iv, "1 day"), "1 day");
    assert_eq!(out(&iv, "2 hours 30 minutes"), "02:30:00");
    assert_eq!(out(&iv, "-1 days +02:00:00"), "-1 days +02:00:00");
    assert_eq!(
        out(&iv, "1 year 2 mons -3 days -04:05:06.5"),
        "1 year 2 mons -3 days -04:05:06.5"
    );
    assert_eq!(out(&iv, "04:05:06"), "04:05:06");
    assert_eq!(out(&iv, "P1Y2M3DT4H5M6S"), "1 year 2 mons 3 days 04:05:06");
    assert_eq!(out(&iv, "3 mons"), "3 mons");
    assert_eq!(out(&iv, "0"), "00:00:00");
    assert_eq!(out(&iv, "@ 1 hour ago"), "-01:00:00");
    assert_eq!(out(&iv, "1 week"), "7 days");
    assert_eq!(err(Value::parse_text(&iv, "1 fortnight")).0, "22007");
}

#[test]
fn json_and_jsonb() {
    assert_eq!(
        out(&DataType::Json, "{\"b\":1,  \"a\":2}"),
        "{\"b\":1,  \"a\":2}"
    );
    assert_eq!(
        out(
            &DataType::Jsonb,
            "{\"b\": [1,2], \"a\": 1, \"aa\": {\"x\":null}}"
        ),
        "{\"a\": 1, \"b\": [1, 2], \"aa\": {\"x\": null}}"
    );
    assert_eq!(out(&DataType::Jsonb, "{\"a\":1,\"a\":2}"), "{\"a\": 2}");
    assert_eq!(out(&DataType::Jsonb, "\"x\\ny\""), "\"x\\ny\"");
    assert_eq!(err(Value::parse_text(&DataType::Jsonb, "{x")).0, "22P02");
    let j = p(&DataType::Jsonb, "{\"a\": {\"b\": [10, 20]}, \"c\": \"s\"}");
    let get = |op, k: Value| Value::binary(op, &j, &k).unwrap();
    assert_eq!(
        get(BinaryOp::JsonGetText, Value::Text("c".into())),
        Value::Text("s".into())
    );
    assert_eq!(
        get(BinaryOp::JsonGet, Value::Text("a".into()))
            .to_text()
            .unwrap(),
        "{\"b\": [10, 20]}"
    );
    assert_eq!(
        get(BinaryOp::JsonPathText, Value::Text("{a,b,-1}".into())),
        Value::Text("20".into())
    );
    assert_eq!(
        get(BinaryOp::JsonHasKey, Value::Text("c".into())),
        Value::Bool(true)
    );
    assert_eq!(
        get(
            BinaryOp::JsonContains,
            Value::Text("{\"a\": {\"b\": [20]}}".into())
        ),
        Value::Bool(true)
    );
    assert_eq!(
        get(BinaryOp::JsonContains, Value::Text("{\"c\": \"t\"}".into())),
        Value::Bool(false)
    );
}

#[test]
fn arrays() {
    let ta = DataType::Array(Box::new(DataType::Text));
    let v = p(&ta, "{a b,\"\",\"NULL\",\"x\\\"y\",NULL, q }");
    assert_eq!(
        v,
        Value::Array(
            Box::new(DataType::Text),
            vec![
                Value::Text("a b".into()),
                Value::Text("".into()),
                Value::Text("NULL".into()),
                Value::Text("x\"y".into()),
                Value::Null,
                Value::Text("q".into())
            ]
        )
    );
    assert_eq!(
        v.to_text().unwrap(),
        "{\"a b\",\"\",\"NULL\",\"x\\\"y\",NULL,q}"
    );
    let ia = DataType::Array(Box::new(DataType::Int4));
    assert_eq!(out(&ia, "{1,2,NULL}"), "{1,2,NULL}");
    assert_eq!(out(&ia, "{}"), "{}");
    assert_eq!(err(Value::parse_text(&ia, "{{1},{2}}")).0, "0A000");
    assert_eq!(err(Value::parse_text(&ia, "{1,2")).0, "22P02");
    assert_eq!(
        err(Value::parse_text(&ia, "1,2")).1,
        "malformed array literal: \"1,2\""
    );
    let ba = DataType::Array(Box::new(DataType::Bytea));
    assert_eq!(out(&ba, "{\"\\\\x01\"}"), "{\"\\\\x01\"}");
}

#[test]
fn time_precisions_round_half_away_from_zero_and_print_as_format_type_does() {
    use super::datetime::round_to_precision as round;
    assert_eq!(round(1_500_000, Some(0)), 2_000_000);
    assert_eq!(round(1_499_999, Some(0)), 1_000_000);
    assert_eq!(round(-1_500_000, Some(0)), -2_000_000);
    assert_eq!(round(-1_499_999, Some(0)), -1_000_000);
    assert_eq!(round(123_456, Some(3)), 123_000);
    assert_eq!(round(123_500, Some(3)), 124_000);
    assert_eq!(round(123_456, Some(6)), 123_456);
    assert_eq!(round(123_456, None), 123_456);
    assert_eq!(round(i64::MAX, Some(0)), i64::MAX);
    assert_eq!(round(i64::MIN, Some(0)), i64::MIN);
    let ts = |s: &str, ty: DataType| Value::Text(s.into()).cast(&ty).unwrap().to_text().unwrap();
    assert_eq!(
        ts("2024-01-02 03:04:05.999999", DataType::Timestamp(Some(0))),
        "2024-01-02 03:04:06"
    );
    assert_eq!(ts("12:00:00.5", DataType::Time(Some(0))), "12:00:01");
    assert_eq!(ts("23:59:59.9", DataType::Time(Some(0))), "24:00:00");
    assert_eq!(ts("01:02:03.45", DataType::Time(Some(1))), "01:02:03.5");
    // A cast between timestamp types applies the target's precision.
    let v = Value::Timestamp(1_234_567);
    assert_eq!(
        v.cast(&DataType::Timestamptz(Some(1))).unwrap(),
        Value::Timestamptz(1_200_000)
    );
    assert_eq!(
        DataType::Timestamp(Some(3)).display(),
        "timestamp(3) without time zone"
    );
    assert_eq!(
        DataType::Timestamptz(None).display(),
        "timestamp with time zone"
    );
    assert_eq!(
        DataType::Time(Some(0)).display(),
        "time(0) without time zone"
    );
    for ty in [
        DataType::Timestamp(Some(0)),
        DataType::Time(Some(5)),
        DataType::Varchar(Some(20)),
        DataType::Numeric(Some((10, 2))),
        DataType::Array(Box::new(DataType::Timestamptz(Some(3)))),
    ] {
        let bare = DataType::from_oid(ty.oid()).unwrap();
        assert_ne!(bare, ty);
        assert_eq!(bare.clone().with_typmod(-1), bare);
        assert_eq!(bare.with_typmod(ty.typmod()), ty);
    }
    assert_eq!(DataType::Timestamp(None).typmod(), -1);
}

/// Rows are vectors of values, cloned and dropped per row by scans and joins: every byte of
/// `Value` is paid many times over, so a variant must not make it grow.
#[test]
fn a_value_stays_small() {
    assert!(
        std::mem::size_of::<Value>() <= 40,
        "{}",
        std::mem::size_of::<Value>()
    );
}
