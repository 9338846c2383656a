//! Tests of COPY's options and of the formats end to end: random rows encoded as COPY TO
//! would, cut into random chunks, split and decoded as COPY FROM would, come back unchanged.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sqlparser::ast::{CopyOption, Ident};

use super::csv::Csv;
use super::lines::Lines;
use super::{text, CopyOptions, Format};

type Row = Vec<Option<String>>;

/// Encodes `rows` with `o` (as COPY TO does).
fn encode(o: &CopyOptions, rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        let fields: Vec<Option<&str>> = r.iter().map(Option::as_deref).collect();
        match o.format {
            Format::Text => text::encode_record(&fields, o.delimiter, &o.null, &mut out),
            Format::Csv => csv(o).encode_record(&fields, &o.null, &mut out),
        }
    }
    out
}

fn csv(o: &CopyOptions) -> Csv {
    Csv {
        delimiter: o.delimiter,
        quote: o.quote,
        escape: o.escape,
    }
}

/// Decodes `data` cut at `cuts` (as COPY FROM does); stops at an end marker.
fn decode(o: &CopyOptions, data: &[u8], cuts: &[usize]) -> Vec<Row> {
    let mut lines = match o.format {
        Format::Text => Lines::text(),
        Format::Csv => Lines::csv(o.quote, o.escape),
    };
    let mut rows = Vec::new();
    let one = |record: &[u8], rows: &mut Vec<Row>| -> bool {
        let mut fields = Vec::new();
        match o.format {
            Format::Text => {
                let d = text::decode(record, o.delimiter, o.null.as_bytes(), &mut fields).unwrap();
                if d.row {
                    rows.push(fields);
                }
                d.end
            }
            Format::Csv => {
                if Csv::is_end_marker(record) {
                    return true;
                }
                csv(o)
                    .decode(record, o.null.as_bytes(), &mut fields)
                    .unwrap();
                rows.push(fields);
                false
            }
        }
    };
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    points.push(data.len());
    let mut from = 0;
    for p in points {
        lines.push(&data[from..p]).unwrap();
        from = p;
        while let Some(r) = lines.next_record() {
            if one(r, &mut rows) {
                return rows;
            }
        }
    }
    if let Some(r) = lines.finish() {
        one(r, &mut rows);
    }
    rows
}

fn options(list: &[CopyOption]) -> CopyOptions {
    CopyOptions::new(list).unwrap()
}

fn field() -> impl Strategy<Value = Option<String>> {
    let chars = prop::sample::select(vec![
        'a', 'Z', '0', ' ', '\t', '\n', '\r', '\\', '"', '\'', ',', ';', '.', 'N', 'x', '|',
        '\u{8}', '\u{b}', '\u{1}', 'é', '☃',
    ]);
    prop::option::of(prop::collection::vec(chars, 0..8).prop_map(|v| v.into_iter().collect()))
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(prop::collection::vec(field(), 1..5), 0..12)
}

proptest! {
    #[test]
    fn text_round_trip(rows in rows(), cuts in prop::collection::vec(0usize..4096, 0..6)) {
        let o = options(&[]);
        let data = encode(&o, &rows);
        prop_assert_eq!(decode(&o, &data, &cuts), rows);
    }

    #[test]
    fn text_round_trip_with_other_delimiter_and_null(
        rows in rows(),
        cuts in prop::collection::vec(0usize..4096, 0..6),
    ) {
        let o = options(&[CopyOption::Delimiter('|'), CopyOption::Null("NULL".into())]);
        let data = encode(&o, &rows);
        prop_assert_eq!(decode(&o, &data, &cuts), rows);
    }

    #[test]
    fn csv_round_trip(rows in rows(), cuts in prop::collection::vec(0usize..4096, 0..6)) {
        let o = options(&[CopyOption::Format(Ident::new("csv"))]);
        let data = encode(&o, &rows);
        prop_assert_eq!(decode(&o, &data, &cuts), rows);
    }

    #[test]
    fn csv_round_trip_with_escape_and_delimiter(
        rows in rows(),
        cuts in prop::collection::vec(0usize..4096, 0..6),
    ) {
        let o = options(&[
            CopyOption::Format(Ident::new("csv")),
            CopyOption::Delimiter(';'),
            CopyOption::Escape('\\'),
            CopyOption::Null("\\N".into()),
        ]);
        let data = encode(&o, &rows);
        prop_assert_eq!(decode(&o, &data, &cuts), rows);
    }
}

#[test]
fn data_after_the_end_marker_is_ignored() {
    let o = options(&[]);
    let rows = decode(&o, b"1\ta\n\\.\n2\tb\n", &[3, 7]);
    assert_eq!(rows, vec![vec![Some("1".into()), Some("a".into())]]);
    let o = options(&[CopyOption::Format(Ident::new("csv"))]);
    assert_eq!(
        decode(&o, b"1\n\\.\r\n2\n", &[]),
        vec![vec![Some("1".into())]]
    );
}

#[test]
fn defaults_per_format() {
    let t = options(&[]);
    assert_eq!(
        (t.delimiter, t.null.as_str(), t.header),
        (b'\t', "\\N", false)
    );
    let c = options(&[
        CopyOption::Format(Ident::new("csv")),
        CopyOption::Header(true),
    ]);
    assert_eq!(
        (c.delimiter, c.null.as_str(), c.quote, c.escape, c.header),
        (b',', "", b'"', b'"', true)
    );
}

#[test]
fn option_errors_are_postgres_errors() {
    let code = |list: &[CopyOption]| CopyOptions::new(list).unwrap_err().sqlstate();
    let csv = CopyOption::Format(Ident::new("csv"));
    assert_eq!(code(&[CopyOption::Format(Ident::new("binary"))]), "0A000");
    assert_eq!(code(&[CopyOption::Format(Ident::new("xml"))]), "22023");
    assert_eq!(code(&[CopyOption::Quote('\'')]), "0A000");
    assert_eq!(code(&[CopyOption::Escape('\\')]), "0A000");
    assert_eq!(code(&[CopyOption::Delimiter('\\')]), "22023");
    assert_eq!(code(&[CopyOption::Delimiter('é')]), "0A000");
    assert_eq!(code(&[csv.clone(), CopyOption::Delimiter('"')]), "22023");
    assert_eq!(code(&[CopyOption::Null("a\tb".into())]), "22023");
    assert_eq!(
        code(&[CopyOption::Header(true), CopyOption::Header(false)]),
        "42601"
    );
    assert!(
        CopyOptions::new(&[CopyOption::Freeze(true)])
            .unwrap()
            .freeze
    );
}
