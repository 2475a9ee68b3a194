//! Random operation sequences against a `BTreeMap` model: the expiry index, the live-data total,
//! the write queue and the journal stay in step with the records through overwrites, deletes,
//! purges, evictions, reopens and kills.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memo_core::{Record, Store};
use memo_store_redb::{Durability, RedbStore};
use proptest::prelude::*;

use crate::assert_consistent;

#[derive(Clone, Debug)]
enum Op {
    Set {
        key: u8,
        expiry: Option<u8>,
        len: u16,
    },
    Delete(u8),
    Purge(u8),
    Flush,
    Reopen,
    /// The files as a killed process leaves them: copied while the store is open, then opened.
    Kill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..8_u8, proptest::option::of(0..20_u8), 0..400_u16)
            .prop_map(|(key, expiry, len)| Op::Set { key, expiry, len }),
        2 => (0..8_u8).prop_map(Op::Delete),
        1 => (0..20_u8).prop_map(Op::Purge),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Kill),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Journaled,
    /// Loses writes on a kill, so a kill is a clean reopen for it.
    Queued,
    Immediate,
}

fn open(file: &Path, bound: Option<u64>, mode: Mode) -> RedbStore {
    let durability = match mode {
        Mode::Journaled => Durability::journaled(Duration::from_secs(3600)),
        Mode::Queued => Durability::Queued {
            interval: Duration::from_secs(3600),
            writes: NonZeroU64::new(5),
        },
        Mode::Immediate => Durability::Immediate,
    };
    let builder = RedbStore::builder(file).durability(durability);
    match bound {
        Some(bound) => builder.max_bytes(bound),
        None => builder,
    }
    .build()
    .unwrap()
}

/// Copies the database file and its journal files into a new directory under `dir`, as they
/// are now: what the disk holds when a process is killed (the page cache survives a kill).
pub(crate) fn copy_as_killed(file: &Path, dir: &Path, n: usize) -> PathBuf {
    let target = dir.join(format!("killed-{n}"));
    std::fs::create_dir(&target).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    for entry in std::fs::read_dir(file.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        let copied = entry.file_name();
        if copied.to_str().unwrap().starts_with(name) {
            std::fs::copy(entry.path(), target.join(&copied)).unwrap();
        }
    }
    target.join(name)
}

fn run(ops: &[Op], bound: Option<u64>, mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let mut file = dir.path().join("model.redb");
    let mut store = open(&file, bound, mode);
    let mut model: BTreeMap<String, Record> = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Set { key, expiry, len } => {
                let record = Record::new(
                    n as f64,
                    expiry.map(f64::from),
                    vec![*key; usize::from(*len)],
                );
                store.set(&format!("k{key}"), record.clone()).unwrap();
                model.insert(format!("k{key}"), record);
            }
            Op::Delete(key) => {
                let removed = store.delete(&format!("k{key}")).unwrap();
                let modelled = model.remove(&format!("k{key}")).is_some();
                // A bounded store may have evicted what the model still holds.
                assert!(removed == modelled || (bound.is_some() && !removed));
            }
            Op::Purge(now) => {
                let now = f64::from(*now);
                let purged = store.purge_expired(now).unwrap();
                let before = model.len();
                model.retain(|_, r| !r.is_expired(now));
                let modelled = (before - model.len()) as u64;
                assert!(purged == modelled || (bound.is_some() && purged <= modelled));
            }
            Op::Flush => {
                store.flush().unwrap();
                assert_eq!(store.pending_writes(), 0);
            }
            Op::Reopen => {
                drop(store);
                store = open(&file, bound, mode);
            }
            Op::Kill if mode == Mode::Queued => {
                drop(store);
                store = open(&file, bound, mode);
            }
            Op::Kill => {
                let killed = copy_as_killed(&file, dir.path(), n);
                drop(store);
                file = killed;
                store = open(&file, bound, mode);
            }
        }
        for key in (0..8).map(|k| format!("k{k}")) {
            let found = store.get(&key).unwrap();
            match bound {
                None => assert_eq!(found.as_ref(), model.get(&key), "after op {n} ({op:?})"),
                // Lossy: a record may be gone, never stale or wrong.
                Some(_) => assert!(found.is_none() || found.as_ref() == model.get(&key)),
            }
        }
        if let Some(bound) = bound {
            assert!(store.live_bytes().unwrap() <= bound);
        }
    }
    assert_consistent(&store);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn journaled_store_matches_the_model_through_kills(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops, None, Mode::Journaled);
    }

    #[test]
    fn queued_store_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops, None, Mode::Queued);
    }

    #[test]
    fn immediate_store_matches_the_model_through_kills(ops in proptest::collection::vec(op(), 1..30)) {
        run(&ops, None, Mode::Immediate);
    }

    #[test]
    fn bounded_store_never_returns_a_wrong_record(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops, Some(1200), Mode::Journaled);
    }
}
