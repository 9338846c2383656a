//! Table round trips against a `BTreeMap` model, and damage detection.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use orbit_env::{FileSystem, OpenMode, SimFs};
use proptest::prelude::*;

use super::*;
use crate::key::{self, ValueKind};
use crate::Error;

/// Model: user key -> versions (seq -> Some(value) for a put, None for a delete).
type Model = BTreeMap<Vec<u8>, BTreeMap<u64, Option<Vec<u8>>>>;

fn build(fs: &SimFs, name: &str, model: &Model, opts: TableOptions) -> Table {
    let path = Path::new("/t").join(name);
    fs.create_dir_all(Path::new("/t")).unwrap();
    let file = fs.open(&path, OpenMode::CreateNew).unwrap();
    let mut b = TableBuilder::new(Arc::clone(&file), opts);
    for (user, versions) in model {
        for (seq, value) in versions.iter().rev() {
            let (kind, v) = match value {
                Some(v) => (ValueKind::Put, v.as_slice()),
                None => (ValueKind::Delete, &[][..]),
            };
            b.add(&key::internal_key(user, *seq, kind as u8), v)
                .unwrap();
        }
    }
    b.finish().unwrap();
    Table::open(file, 1, Arc::new(TableCache::new(1 << 20))).unwrap()
}

/// The table's internal keys, in order.
fn internal_keys(model: &Model) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for (user, versions) in model {
        for (seq, value) in versions.iter().rev() {
            let kind = if value.is_some() {
                ValueKind::Put
            } else {
                ValueKind::Delete
            };
            keys.push(key::internal_key(user, *seq, kind as u8));
        }
    }
    keys
}

fn model_strategy() -> impl Strategy<Value = Model> {
    proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::collection::btree_map(
            1u64..1000,
            proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..40)),
            1..4,
        ),
        0..200,
    )
}

fn opts_strategy() -> impl Strategy<Value = TableOptions> {
    (64usize..2048, proptest::option::of(1i32..4)).prop_map(|(block_size, zstd_level)| {
        TableOptions {
            block_size,
            zstd_level,
            bloom_bits_per_key: 10,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(64), ..ProptestConfig::default() })]

    #[test]
    fn gets_at_any_snapshot_match_the_model(model in model_strategy(), opts in opts_strategy(), snapshots in proptest::collection::vec(0u64..1100, 1..8)) {
        let fs = SimFs::new();
        let table = build(&fs, "a.sst", &model, opts);
        for (user, versions) in &model {
            for &snap in &snapshots {
                let want = versions.range(..=snap).next_back().map(|(s, v)| match v {
                    Some(v) => (*s, ValueKind::Put, v.clone()),
                    None => (*s, ValueKind::Delete, Vec::new()),
                });
                prop_assert_eq!(table.get(user, snap).unwrap(), want);
            }
        }
        prop_assert_eq!(table.get(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 2000).unwrap(), None);
        let entries: u64 = model.values().map(|v| v.len() as u64).sum();
        prop_assert_eq!(table.properties().entries, entries);
    }

    #[test]
    fn iteration_both_ways_matches_the_model(model in model_strategy(), opts in opts_strategy()) {
        let fs = SimFs::new();
        let table = build(&fs, "a.sst", &model, opts);
        let expected = internal_keys(&model);
        let mut it = table.iter();
        it.seek_to_first().unwrap();
        let mut forward = Vec::new();
        while it.valid() {
            forward.push(it.key().to_vec());
            it.next_entry().unwrap();
        }
        prop_assert_eq!(&forward, &expected);
        it.seek_to_last().unwrap();
        let mut backward = Vec::new();
        while it.valid() {
            backward.push(it.key().to_vec());
            it.prev_entry().unwrap();
        }
        backward.reverse();
        prop_assert_eq!(&backward, &expected);
        // Seeking to each key's newest version lands on it.
        for k in expected.iter().step_by(7) {
            it.seek(k).unwrap();
            prop_assert!(it.valid());
            prop_assert_eq!(it.key(), &k[..]);
        }
    }

    /// Seeks one after another through one iterator, in key order (within a block, to the
    /// next block, further on) or not, each land where a seek from a new iterator would.
    #[test]
    fn seeks_in_turn_land_where_a_first_seek_would(
        model in model_strategy(),
        opts in opts_strategy(),
        targets in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..12), 0u64..1100), 1..60),
        ordered in any::<bool>(),
    ) {
        let fs = SimFs::new();
        let table = build(&fs, "a.sst", &model, opts);
        let expected = internal_keys(&model);
        // Targets: random keys, and each key of the table (some at a newer version).
        let mut targets: Vec<Vec<u8>> = targets
            .iter()
            .map(|(user, seq)| key::internal_key(user, *seq, ValueKind::SEEK))
            .chain(model.keys().step_by(3).map(|u| key::internal_key(u, key::MAX_SEQ, ValueKind::SEEK)))
            .collect();
        if ordered {
            targets.sort_by(|a, b| key::compare(a, b));
        }
        let mut it = table.iter();
        for t in &targets {
            it.seek(t).unwrap();
            let want = expected.iter().find(|e| key::compare(e, t) != std::cmp::Ordering::Less);
            let got = it.valid().then(|| it.key().to_vec());
            prop_assert_eq!(got.as_ref(), want, "seek {:?}", t);
        }
    }

    #[test]
    fn any_flipped_bit_is_an_error_or_the_right_answer(model in model_strategy(), bit in any::<prop::sample::Index>()) {
        prop_assume!(!model.is_empty());
        let fs = SimFs::new();
        let path = Path::new("/t/a.sst");
        drop(build(&fs, "a.sst", &model, TableOptions::default()));
        let len = fs.contents(path).unwrap().len();
        let i = bit.index(len * 8);
        fs.flip_bit(path, (i / 8) as u64, (i % 8) as u8).unwrap();
        let file = fs.open(path, OpenMode::Read).unwrap();
        match Table::open(file, 1, Arc::new(TableCache::new(1 << 20))) {
            Err(Error::Corruption { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {}", e),
            Ok(table) => {
                // Every answer is either correct or a corruption error: never wrong data.
                for (user, versions) in &model {
                    let want = versions.iter().next_back().map(|(s, v)| match v {
                        Some(v) => (*s, ValueKind::Put, v.clone()),
                        None => (*s, ValueKind::Delete, Vec::new()),
                    });
                    match table.get(user, u64::MAX >> 8) {
                        Ok(got) => prop_assert_eq!(got, want),
                        Err(Error::Corruption { .. }) => {}
                        Err(e) => prop_assert!(false, "unexpected error {}", e),
                    }
                }
            }
        }
    }
}

/// `tests/compat.rs` reads the fixture table as one with a whole-layout filter: it must have
/// one (a fixture regenerated by a later writer would get a blocked filter, and the test would
/// pass without reading the old layout); a table written now gets a blocked filter.
#[test]
fn the_compat_fixture_has_a_whole_filter_and_new_tables_a_blocked_one() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whole-bloom-db/000002.sst");
    let file = orbit_env::RealFs::shared()
        .open(&path, OpenMode::Read)
        .unwrap();
    let fixture = Table::open(file, 1, Arc::new(TableCache::new(1 << 20))).unwrap();
    assert!(matches!(
        fixture.bloom(),
        Some(super::bloom::Bloom::Whole { probes: 7, .. })
    ));
    let fs = SimFs::new();
    let model: Model = (0..100u32)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                BTreeMap::from([(1, Some(vec![1]))]),
            )
        })
        .collect();
    let new = build(&fs, "new.sst", &model, TableOptions::default());
    assert!(matches!(
        new.bloom(),
        Some(super::bloom::Bloom::Blocked { probes: 6, .. })
    ));
}

#[test]
fn keys_out_of_order_are_refused() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    let file = fs.open(Path::new("/t/x.sst"), OpenMode::CreateNew).unwrap();
    let mut b = TableBuilder::new(file, TableOptions::default());
    b.add(&key::internal_key(b"b", 1, 1), b"").unwrap();
    assert!(matches!(
        b.add(&key::internal_key(b"a", 1, 1), b""),
        Err(Error::KeysOutOfOrder)
    ));
    assert!(matches!(
        b.add(&key::internal_key(b"b", 1, 1), b""),
        Err(Error::KeysOutOfOrder)
    ));
    // Same user key, older version: fine.
    b.add(&key::internal_key(b"b", 0, 1), b"").unwrap();
}

#[test]
fn a_file_that_is_not_a_table_is_refused() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    let path = Path::new("/t/junk");
    let file = fs.open(path, OpenMode::CreateNew).unwrap();
    file.write_all_at(&[7u8; 100], 0).unwrap();
    match Table::open(Arc::clone(&file), 1, Arc::new(TableCache::new(1024))) {
        Err(Error::Corruption { reason, .. }) => assert!(reason.contains("magic"), "{reason}"),
        other => panic!("expected corruption, got {other:?}"),
    }
    file.set_len(10).unwrap();
    assert!(matches!(
        Table::open(file, 1, Arc::new(TableCache::new(1024))),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn blocks_are_served_from_the_cache_after_the_first_read() {
    let fs = SimFs::new();
    let mut model = Model::new();
    for i in 0..2000u32 {
        model
            .entry(format!("key{i:05}").into_bytes())
            .or_default()
            .insert(5, Some(vec![1u8; 50]));
    }
    let opts = TableOptions {
        block_size: 4096,
        ..TableOptions::default()
    };
    let table = build(&fs, "c.sst", &model, opts);
    for _ in 0..3 {
        for i in (0..2000u32).step_by(13) {
            assert!(table
                .get(format!("key{i:05}").as_bytes(), 10)
                .unwrap()
                .is_some());
        }
    }
    let stats = table.cache().stats();
    assert!(stats.hits > 2 * stats.misses, "{stats:?}");
    assert!(table.properties().data_blocks > 10);
    // zstd shrank the repetitive values.
    assert!(table.size() < 2000 * 60 / 2, "size {}", table.size());
}

/// A value of a block or more is written in a block of its own: small neighbours before and
/// after it are in other blocks, and everything reads back.
#[test]
fn a_large_value_gets_a_block_of_its_own() {
    let fs = SimFs::new();
    let mut model = Model::new();
    let opts = TableOptions {
        block_size: 1024,
        zstd_level: None,
        bloom_bits_per_key: 10,
    };
    model.insert(
        b"a".to_vec(),
        BTreeMap::from([(1, Some(b"small".to_vec()))]),
    );
    model.insert(b"b".to_vec(), BTreeMap::from([(1, Some(vec![7u8; 5000]))]));
    model.insert(
        b"c".to_vec(),
        BTreeMap::from([(1, Some(b"small".to_vec()))]),
    );
    let table = build(&fs, "big", &model, opts);
    assert_eq!(table.properties().data_blocks, 3);
    assert_eq!(
        table.get(b"b", u64::MAX).unwrap().map(|e| e.2.len()),
        Some(5000)
    );
    assert_eq!(
        table.get(b"c", u64::MAX).unwrap().map(|e| e.2),
        Some(b"small".to_vec())
    );
}
