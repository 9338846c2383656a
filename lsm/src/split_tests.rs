//! Cutting batches into records and putting them back together.
#![allow(clippy::indexing_slicing)] // tests index records they built

use super::*;
use crate::LogRecord;
use proptest::prelude::*;

fn batch(ops: &[(u8, u32, Vec<u8>, Vec<u8>)]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (kind, ks, k, v) in ops {
        match kind % 3 {
            0 => b.put(*ks, k, v),
            1 => b.delete(*ks, k),
            _ => b.delete_range(*ks, k, v),
        };
    }
    b
}

fn batch_strategy() -> impl Strategy<Value = WriteBatch> {
    proptest::collection::vec(
        (
            any::<u8>(),
            0u32..300,
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..400),
        ),
        1..40,
    )
    .prop_map(|ops| batch(&ops))
}

/// Feeds `records` (at made-up LSNs) to a fresh assembler; returns what each gave.
fn feed(records: &[Vec<u8>]) -> Vec<Result<Step<'_>, String>> {
    let mut a = Assembler::default();
    records
        .iter()
        .enumerate()
        .map(|(i, r)| a.push(i as u64 * 1000, r))
        .collect()
}

fn big_batch(n: u32, value_len: usize) -> WriteBatch {
    let mut b = WriteBatch::new();
    for i in 0..n {
        b.put(
            i % 3,
            format!("key{i:05}").as_bytes(),
            &vec![i as u8; value_len],
        );
    }
    b
}

proptest! {
    /// Any batch cut for any record size: records within the size, all but the commit equally
    /// full, and put back together they are the one-record encoding, applied only at the commit.
    #[test]
    fn split_batches_put_back_together(
        b in batch_strategy(),
        first in 1u64..1 << 56,
        max in (PART_HEADER + 1)..300usize,
    ) {
        let records = split_all(&b, first, max);
        let whole = b.encode(first);
        let n = part_count(whole.len(), max).unwrap().max(2) as usize;
        prop_assert_eq!(records.len(), n);
        let mut concat = Vec::new();
        for (i, r) in records.iter().enumerate() {
            prop_assert!(r.len() <= max, "record {} is {} bytes, over {}", i, r.len(), max);
            let Some(RecordRef::Part(p)) = parse(r) else {
                panic!("record {i} does not parse as a part");
            };
            prop_assert_eq!((p.first_seq, p.index, p.parts as usize), (first, i as u32, n));
            prop_assert_eq!(p.is_commit(), i + 1 == n);
            if i + 1 < n {
                prop_assert_eq!(r.len(), records[0].len(), "parts are equally full");
            }
            concat.extend_from_slice(p.bytes);
        }
        prop_assert_eq!(&concat, &whole);
        let steps = feed(&records);
        for s in &steps[..n - 1] {
            prop_assert_eq!(s, &Ok(Step::Buffered));
        }
        prop_assert_eq!(&steps[n - 1], &Ok(Step::Batch(Cow::Owned(whole))));
    }

    /// Damaged or truncated part records never panic and never parse as something else's part.
    #[test]
    fn damaged_parts_never_panic(b in batch_strategy(), flip in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let records = split_all(&b, 9, 64);
        let mut r = records[0].clone();
        let i = flip.index(r.len());
        r[i] ^= 0x5a;
        let _ = parse(&r);
        let _ = feed(&[r]);
        let cut = cut.index(PART_HEADER);
        prop_assert_eq!(parse(&records[0][..cut]), None);
    }
}

#[test]
fn an_op_larger_than_a_record_spans_records() {
    let mut b = WriteBatch::new();
    b.put(0, b"small", b"x")
        .put(1, b"huge", &vec![7u8; 10_000])
        .delete(0, b"gone");
    let records = split_all(&b, 42, 1000);
    assert!(records.len() >= 11, "{}", records.len());
    let steps = feed(&records);
    let Some(Ok(Step::Batch(bytes))) = steps.last() else {
        panic!("no batch: {:?}", steps.last());
    };
    assert_eq!(WriteBatch::decode(bytes), Some((42, b)));
}

#[test]
fn a_batch_just_over_a_record_takes_two() {
    // Split only when the one-record encoding is larger than a record; then at least two.
    let b = big_batch(1, 100);
    let len = b.encoded_len();
    assert_eq!(split_all(&b, 1, len - 1).len(), 2);
    assert_eq!(part_count(len, PART_HEADER), None, "no room for bytes");
    assert_eq!(
        part_count(usize::MAX, PART_HEADER + 1),
        None,
        "too many records"
    );
}

#[test]
fn abandoned_parts_are_dropped_and_the_next_batch_stands() {
    let big = big_batch(50, 40);
    let records = split_all(&big, 100, 200);
    assert!(records.len() >= 4);
    let small = {
        let mut b = WriteBatch::new();
        b.put(0, b"k", b"v");
        b
    };
    // Parts without a commit, then a one-record batch at the same sequence number (the
    // abandoned batch's numbers are handed out again after a reopen).
    let mut log: Vec<Vec<u8>> = records[..2].to_vec();
    log.push(small.encode(100));
    let steps = feed(&log);
    assert_eq!(steps[2], Ok(Step::Batch(Cow::Borrowed(&log[2][..]))));
    // Parts without a commit, then the same batch number split again, whole this time.
    let again = big_batch(60, 40);
    let mut log: Vec<Vec<u8>> = records[..3].to_vec();
    let second = split_all(&again, 100, 200);
    log.extend(second.iter().cloned());
    let steps = feed(&log);
    assert_eq!(
        steps.last(),
        Some(&Ok(Step::Batch(Cow::Owned(again.encode(100)))))
    );
    assert!(steps[..log.len() - 1]
        .iter()
        .all(|s| s == &Ok(Step::Buffered)));
    // A keyspace record also ends an open batch.
    let ddl = LogRecord::DropKeyspace(4).encode_ddl().unwrap();
    let mut log: Vec<Vec<u8>> = records[..2].to_vec();
    log.push(ddl);
    log.push(records[2].clone());
    let steps = feed(&log);
    assert_eq!(steps[2], Ok(Step::DropKeyspace(4)));
    assert!(
        steps[3].is_err(),
        "a part whose batch was abandoned: {:?}",
        steps[3]
    );
}

#[test]
fn missing_or_reordered_parts_are_errors_and_an_open_tail_is_reported() {
    let records = split_all(&big_batch(50, 40), 7, 200);
    let n = records.len();
    // The commit alone, a part alone, a skipped part, a repeated part.
    assert!(feed(&records[n - 1..])[0].is_err());
    assert!(feed(&records[1..2])[0].is_err());
    let skipped = [records[0].clone(), records[2].clone()];
    assert!(feed(&skipped)[1].is_err());
    let repeated = [records[0].clone(), records[1].clone(), records[1].clone()];
    assert!(feed(&repeated)[2].is_err());
    // A part of another batch (other first sequence number) in the middle.
    let other = split_all(&big_batch(50, 40), 8, 200);
    let mixed = [records[0].clone(), other[1].clone()];
    assert!(feed(&mixed)[1].is_err());
    // The log ends inside a batch.
    let mut a = Assembler::default();
    for (i, r) in records[..n - 1].iter().enumerate() {
        assert_eq!(a.push(500 + i as u64, r), Ok(Step::Buffered));
    }
    let open = a.incomplete().unwrap();
    assert_eq!(
        (open.first_seq, open.lsn, open.read),
        (7, 500, n as u32 - 1)
    );
    assert_eq!(a.finish(), Some(open));
    assert_eq!(a.finish(), None);
}

#[test]
fn inconsistent_part_headers_are_refused() {
    let records = split_all(&big_batch(20, 40), 3, 200);
    let with = |tag: u8, index: u32, parts: u32| {
        let mut r = records[0].clone();
        r[8] = tag;
        r[17..21].copy_from_slice(&index.to_le_bytes());
        r[21..25].copy_from_slice(&parts.to_le_bytes());
        r
    };
    assert!(parse(&with(PART, 0, 3)).is_some());
    assert!(parse(&with(COMMIT, 2, 3)).is_some());
    assert_eq!(
        parse(&with(PART, 2, 3)),
        None,
        "the last record must be a commit"
    );
    assert_eq!(
        parse(&with(COMMIT, 1, 3)),
        None,
        "a commit must be the last record"
    );
    assert_eq!(parse(&with(PART, 3, 3)), None, "index past the count");
    assert_eq!(
        parse(&with(COMMIT, 0, 1)),
        None,
        "a split batch has two records or more"
    );
    assert_eq!(parse(&with(9, 0, 3)), None, "unknown tag");
}

#[test]
fn log_record_decodes_parts() {
    let records = split_all(&big_batch(20, 40), 3, 200);
    match LogRecord::decode(&records[1]) {
        Some(LogRecord::BatchPart {
            first_seq: 3,
            index: 1,
            parts,
            bytes,
        }) => {
            assert_eq!(parts as usize, records.len());
            assert_eq!(bytes, records[1][PART_HEADER..]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        LogRecord::BatchPart {
            first_seq: 1,
            index: 0,
            parts: 2,
            bytes: Vec::new()
        }
        .encode_ddl(),
        None
    );
}
