//! The rules every store obeys (the store contract of `memo_core::Store`), as functions of the
//! [`Harness`].
//!
//! Each property makes its own store with [`Harness::fresh`], holds trivially when the harness
//! is unavailable outside CI, and returns `Err` with an account of the first failure (after
//! proptest has shrunk it). Random properties first run a few fixed awkward cases, then
//! [`Harness::case_count`] random ones. [`suite!`](crate::suite) wraps each in a `#[test]` of
//! the same name.
//!
//! What a store may do besides returning exactly what was set:
//! - a lossy store ([`Harness::is_lossy`]) may forget any record, so a read may find nothing
//!   where a record was set; it must never return a record other than the last one set;
//! - a store with [`Capabilities::native_expiry`](memo_core::Capabilities) may drop a record
//!   once its expiry has passed, never before.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use memo_core::{Error, Record, Store};

use crate::check::brief;
use crate::check::{
    Case, Rules, call, check_read, check_ttl, distinct_keys_keep_their_records, fail, fresh_case,
    now, reason, run, run_once, show_key, show_record,
};
use crate::model::{self, Model, Op};
use crate::strategy::{self, awkward_records, noise};
use crate::{Harness, Verdict};

mod keys;

/// A store property: what every function of this module is.
pub type Property = fn(&Harness) -> Verdict;

/// Every store property with its name, in the order [`suite!`](crate::suite) runs them: for a
/// harness of one's own that runs them in a loop, or a report over many stores.
pub const ALL: &[(&str, Property)] = &[
    (
        "get_after_set_returns_same_record",
        get_after_set_returns_same_record,
    ),
    (
        "read_lends_the_record_get_returns",
        read_lends_the_record_get_returns,
    ),
    (
        "set_overwrites_previous_record",
        set_overwrites_previous_record,
    ),
    (
        "delete_returns_true_then_false",
        delete_returns_true_then_false,
    ),
    ("get_after_delete_is_none", get_after_delete_is_none),
    (
        "delete_of_absent_key_is_false",
        delete_of_absent_key_is_false,
    ),
    ("any_string_key_works", any_string_key_works),
    (
        "keys_that_are_prefixes_never_collide",
        keys_that_are_prefixes_never_collide,
    ),
    (
        "keys_differing_in_case_stay_apart",
        keys_differing_in_case_stay_apart,
    ),
    (
        "keys_differing_in_unicode_normalisation_stay_apart",
        keys_differing_in_unicode_normalisation_stay_apart,
    ),
    (
        "keys_that_look_like_paths_or_urls_stay_apart",
        keys_that_look_like_paths_or_urls_stay_apart,
    ),
    (
        "keys_differing_in_surrounding_white_space_stay_apart",
        keys_differing_in_surrounding_white_space_stay_apart,
    ),
    ("nul_never_ends_a_key", nul_never_ends_a_key),
    (
        "keys_sharing_a_long_prefix_stay_apart",
        keys_sharing_a_long_prefix_stay_apart,
    ),
    (
        "thousands_of_records_are_all_kept",
        thousands_of_records_are_all_kept,
    ),
    ("values_up_to_16_mib_work", values_up_to_16_mib_work),
    ("ttl_never_over_reports", ttl_never_over_reports),
    (
        "native_expiry_never_removes_a_record_early",
        native_expiry_never_removes_a_record_early,
    ),
    (
        "concurrent_threads_keep_written_records",
        concurrent_threads_keep_written_records,
    ),
    (
        "scan_returns_exactly_the_matching_keys",
        scan_returns_exactly_the_matching_keys,
    ),
    (
        "purge_expired_removes_only_expired_records",
        purge_expired_removes_only_expired_records,
    ),
    (
        "random_operations_match_a_model",
        random_operations_match_a_model,
    ),
    ("reopen_keeps_every_record", reopen_keeps_every_record),
];

pub use keys::{
    MANY, keys_differing_in_case_stay_apart, keys_differing_in_surrounding_white_space_stay_apart,
    keys_differing_in_unicode_normalisation_stay_apart, keys_sharing_a_long_prefix_stay_apart,
    keys_that_look_like_paths_or_urls_stay_apart, nul_never_ends_a_key,
    thousands_of_records_are_all_kept,
};

/// A `get` after `set` returns the same record, field for field and bit for bit: NaN, `-0.0`
/// and infinite times, empty and absent etags, values up to 4 KiB.
///
/// # Errors
/// An account of the first record that came back different.
pub fn get_after_set_returns_same_record(harness: &Harness) -> Verdict {
    check_key_record(
        "get_after_set_returns_same_record",
        harness,
        |store, rules, key, record| {
            call("set", store.set(key, record.clone()))?;
            let got = call("get", store.get(key))?;
            check_read(key, got.as_ref(), Some(record), rules)
        },
    )
}

/// `read` lends exactly the record `get` returns, once, and reports an absent key as `false`
/// without calling its visitor (the Memoizer's hit path reads through it).
///
/// # Errors
/// An account of the first read that lent another record, or answered wrongly.
pub fn read_lends_the_record_get_returns(harness: &Harness) -> Verdict {
    check_key_record(
        "read_lends_the_record_get_returns",
        harness,
        |store, rules, key, record| {
            let mut lent = Vec::new();
            if call("read", store.read(key, &mut |r| lent.push(r.clone())))? || !lent.is_empty() {
                return Err(fail(format!(
                    "read({}) found a record never set",
                    show_key(key)
                )));
            }
            call("set", store.set(key, record.clone()))?;
            let found = call("read", store.read(key, &mut |r| lent.push(r.clone())))?;
            if found != (lent.len() == 1) || lent.len() > 1 {
                return Err(fail(format!(
                    "read({}) returned {found} but called its visitor {} times",
                    show_key(key),
                    lent.len()
                )));
            }
            check_read(key, lent.first(), Some(record), rules)?;
            call("delete", store.delete(key)).map(drop)
        },
    )
}

/// A `set` replaces the record under its key: no later `get` returns the older one.
///
/// # Errors
/// An account of the first read that returned the older record, or another wrong one.
pub fn set_overwrites_previous_record(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let records = awkward_records();
    let fixed = records
        .iter()
        .zip(records.iter().skip(1))
        .map(|(a, b)| ("k".to_owned(), a.clone(), b.clone()))
        .collect();
    let cases = (strategy::key(), strategy::record(), strategy::record())
        .prop_filter("two different records", |(_, a, b)| a != b);
    run(
        "set_overwrites_previous_record",
        harness,
        store.name(),
        fixed,
        &cases,
        |(key, first, second)| {
            call("set", store.set(key, first.clone()))?;
            check_read(
                key,
                call("get", store.get(key))?.as_ref(),
                Some(first),
                rules,
            )?;
            call("set", store.set(key, second.clone()))?;
            for _ in 0..2 {
                check_read(
                    key,
                    call("get", store.get(key))?.as_ref(),
                    Some(second),
                    rules,
                )?;
            }
            Ok(())
        },
    )
}

/// `delete` of a present record returns `true`, and a second `delete` returns `false`.
///
/// # Errors
/// An account of the first `delete` that answered wrongly.
pub fn delete_returns_true_then_false(harness: &Harness) -> Verdict {
    check_key_record(
        "delete_returns_true_then_false",
        harness,
        |store, rules, key, record| {
            call("set", store.set(key, record.clone()))?;
            let first = call("delete", store.delete(key))?;
            if !first && !rules.may_vanish(record, now()) {
                return Err(fail(format!(
                    "delete({}) of a present record returned false",
                    show_key(key)
                )));
            }
            if call("delete", store.delete(key))? {
                return Err(fail(format!(
                    "a second delete({}) returned true",
                    show_key(key)
                )));
            }
            Ok(())
        },
    )
}

/// After `delete`, `get` and `ttl` find nothing, and a new `set` under the key works again.
///
/// # Errors
/// An account of the first read that still found the deleted record.
pub fn get_after_delete_is_none(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let fixed = strategy::awkward_keys()
        .into_iter()
        .zip(awkward_records().into_iter().cycle())
        .map(|(key, record)| (key, record.clone(), record))
        .collect();
    run(
        "get_after_delete_is_none",
        harness,
        store.name(),
        fixed,
        &(strategy::key(), strategy::record(), strategy::record()),
        |(key, record, again)| {
            call("set", store.set(key, record.clone()))?;
            call("delete", store.delete(key))?;
            check_read(key, call("get", store.get(key))?.as_ref(), None, rules)?;
            check_ttl(key, call("ttl", store.ttl(key))?, None, now(), now(), rules)?;
            call("set", store.set(key, again.clone()))?;
            check_read(
                key,
                call("get", store.get(key))?.as_ref(),
                Some(again),
                rules,
            )
        },
    )
}

/// `delete` of a key that holds nothing returns `false`, never an error; `get` and `ttl` of it
/// find nothing.
///
/// # Errors
/// An account of the first key the store claimed to hold.
pub fn delete_of_absent_key_is_false(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    // Nothing is ever set in this store, so every key is absent.
    run(
        "delete_of_absent_key_is_false",
        harness,
        store.name(),
        strategy::awkward_keys(),
        &strategy::key(),
        |key| {
            if call("delete", store.delete(key))? {
                return Err(fail(format!(
                    "delete({}) of an absent key returned true",
                    show_key(key)
                )));
            }
            check_read(key, call("get", store.get(key))?.as_ref(), None, rules)?;
            check_ttl(key, call("ttl", store.ttl(key))?, None, now(), now(), rules)
        },
    )
}

/// Any string is a key: empty, longer than 4 KiB, any Unicode, `:` and NUL included. Keys set
/// together each keep their own record, and each deletes on its own.
///
/// # Errors
/// An account of the first key whose record was lost or mixed up.
pub fn any_string_key_works(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let keys = vec(strategy::key(), 1..6).prop_map(|keys| {
        let unique: BTreeSet<String> = keys.into_iter().collect();
        unique.into_iter().collect::<Vec<_>>()
    });
    run(
        "any_string_key_works",
        harness,
        store.name(),
        vec![strategy::awkward_keys()],
        &keys,
        |keys| distinct_keys_keep_their_records(&*store, rules, keys),
    )
}

/// Keys that are prefixes of each other (`a`, `a:`, `a:\0`, a 4 KiB key and that key plus one
/// byte) never share a record.
///
/// # Errors
/// An account of the first key that read or deleted another key's record.
pub fn keys_that_are_prefixes_never_collide(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let fixed = vec![
        chain("", &["a", ":", "\0", "b"]),
        chain("k", &[":", "\0", ":"]),
        chain(&"x".repeat(4096), &["x", "\0"]),
        chain(&"p".repeat(250), &["q".repeat(10).as_str(), "r", "s"]),
        chain("e", &["\u{301}", "\u{301}"]),
    ];
    let base = prop_oneof![
        strategy::short_key(6),
        (200..400_usize, strategy::short_key(4)).prop_map(|(n, tail)| "m".repeat(n) + &tail),
        strategy::long_key(),
    ];
    let keys = (base, vec(strategy::short_key(3), 1..5)).prop_map(|(base, suffixes)| {
        let suffixes: Vec<String> = suffixes
            .into_iter()
            .map(|s| if s.is_empty() { "\0".to_owned() } else { s })
            .collect();
        let suffixes: Vec<&str> = suffixes.iter().map(String::as_str).collect();
        chain(&base, &suffixes)
    });
    run(
        "keys_that_are_prefixes_never_collide",
        harness,
        store.name(),
        fixed,
        &keys,
        |keys| distinct_keys_keep_their_records(&*store, rules, keys),
    )
}

/// A record whose value is 16 MiB (with a 1 KiB etag) comes back whole, and can be overwritten
/// by another of that size.
///
/// # Errors
/// An account of the first large record that came back different or failed to store.
pub fn values_up_to_16_mib_work(harness: &Harness) -> Verdict {
    const MIB_16: usize = 16 << 20;
    let created = now();
    let first = Record::new(created, None, noise(MIB_16, 1)).with_etag(noise(1024, 2));
    let second = Record::new(created + 1.0, None, noise(MIB_16, 3)).with_etag(noise(1024, 4));
    run_once("values_up_to_16_mib_work", harness, |fixture, rules| {
        let store = fixture.store();
        for record in [&first, &second] {
            call("set", store.set("large", record.clone()))?;
            let got = call("get", store.get("large"))?;
            check_read("large", got.as_ref(), Some(record), rules)?;
        }
        call("delete", store.delete("large"))?;
        Ok(())
    })
}

/// `ttl` never reports more time than the record has left (measured before the call), is
/// `None` for a missing, expired or never-expiring record, and is `Some` for a record with time
/// left in an exact store.
///
/// # Errors
/// An account of the first `ttl` that over-reported or answered `None` wrongly.
pub fn ttl_never_over_reports(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let offset = prop_oneof![
        1 => Just(None),
        2 => (-1.0e5..-1.0e-3_f64).prop_map(Some),
        2 => (1.0..120.0_f64).prop_map(Some),
        2 => (1.0e-3..1.0e6_f64).prop_map(Some),
    ];
    let fixed = [None, Some(-1.0), Some(0.25), Some(30.0), Some(86_400.5)]
        .into_iter()
        .zip(strategy::awkward_keys())
        .map(|(offset, key)| (key, Record::new(now(), None, b"ttl".to_vec()), offset))
        .collect();
    run(
        "ttl_never_over_reports",
        harness,
        store.name(),
        fixed,
        &(strategy::key(), strategy::record(), offset),
        |(key, record, offset)| {
            let mut record = record.clone();
            record.expiry = offset.map(|offset| now() + offset);
            call("set", store.set(key, record.clone()))?;
            let before = now();
            let ttl = call("ttl", store.ttl(key))?;
            let after = now();
            check_ttl(key, ttl, Some(&record), before, after, rules)?;
            call("delete", store.delete(key))?;
            let before = now();
            let ttl = call("ttl", store.ttl(key))?;
            check_ttl(key, ttl, None, before, now(), rules)
        },
    )
}

/// Native expiry never removes a record before its expiry: a record expiring in 30 s is there
/// at once, and (for stores with native expiry) one expiring at a fractional second 2 to 3 s
/// ahead is there whenever it is polled before that time, so an engine that rounds expiry down
/// to whole seconds is caught.
///
/// # Errors
/// An account of the record that went missing early.
pub fn native_expiry_never_removes_a_record_early(harness: &Harness) -> Verdict {
    let property = "native_expiry_never_removes_a_record_early";
    run_once(property, harness, |fixture, rules| {
        let store = fixture.store();
        let start = now();
        let later = Record::new(start, Some(start + 30.0), b"thirty seconds".to_vec());
        call("set", store.set("in 30 s", later.clone()))?;
        let got = call("get", store.get("in 30 s"))?;
        if got.is_none() && !rules.lossy {
            return Err(fail("a record expiring in 30 s was gone at once"));
        }
        check_read("in 30 s", got.as_ref(), Some(&later), rules)?;
        if !rules.native_expiry {
            return Ok(());
        }
        let expiry = start.floor() + 2.9;
        let soon = Record::new(start, Some(expiry), b"soon".to_vec()).with_etag(b"e".to_vec());
        call("set", store.set("soon", soon.clone()))?;
        while now() < expiry - 0.05 {
            let got = call("get", store.get("soon"))?;
            let seen = now();
            match got {
                None if !rules.lossy && seen < expiry => {
                    return Err(fail(format!(
                        "a record expiring at {expiry} was gone at {seen}, {:.3} s early",
                        expiry - seen
                    )));
                }
                got => check_read("soon", got.as_ref(), Some(&soon), rules)?,
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    })
}

/// Eight real threads set, get and delete records on eight overlapping keys. Every read finds
/// a whole record written to that key (never a torn one, never the reader's own overwritten
/// record), and afterwards each key holds the result of some thread's last operation on it.
///
/// # Errors
/// An account of the first torn, misplaced or stale record.
pub fn concurrent_threads_keep_written_records(harness: &Harness) -> Verdict {
    const THREADS: usize = 8;
    const KEYS: usize = 8;
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    // Keys that are prefixes of each other: "", ":", "::", ...
    let keys: Vec<String> = (0..KEYS).map(|k| ":".repeat(k)).collect();
    let ops = harness.case_count().max(1) as usize * 4;
    let barrier = Barrier::new(THREADS);
    let outcomes: Vec<Result<Vec<Option<Option<Record>>>, String>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, keys, barrier) = (&store, &keys, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    worker(&**store, keys, t, ops)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a thread panicked inside the store".to_owned()))
            })
            .collect()
    });
    let name = store.name();
    let prefix = "concurrent_threads_keep_written_records does not hold for the";
    let mut last = Vec::with_capacity(THREADS);
    for outcome in outcomes {
        last.push(outcome.map_err(|e| format!("{prefix} {name} store: {e}"))?);
    }
    for (k, key) in keys.iter().enumerate() {
        let got = store
            .get(key)
            .map_err(|e| format!("{prefix} {name} store: get failed: {e}"))?;
        let finals: Vec<Option<&Record>> = last
            .iter()
            .filter_map(|per_key| per_key[k].as_ref().map(Option::as_ref))
            .collect();
        let allowed = finals.contains(&got.as_ref())
            || (finals.is_empty() && got.is_none())
            || (got.is_none() && rules.lossy);
        if !allowed {
            return Err(format!(
                "{prefix} {name} store: after the threads joined, get({}) returned {}, which is \
                 no thread's last operation on it ({})",
                show_key(key),
                show_record(got.as_ref()),
                finals
                    .iter()
                    .map(|r| show_record(*r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// `scan(prefix)` returns exactly the present keys that start with `prefix`, each once (a lossy
/// store may leave out forgotten ones); a store without the capability answers
/// [`Error::Unsupported`].
///
/// # Errors
/// An account of the first scan that listed a wrong key, missed one, or listed one twice.
pub fn scan_returns_exactly_the_matching_keys(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let probe = fixture.store();
    let name = probe.name();
    if !probe.capabilities().scan {
        return match probe.scan("") {
            Err(Error::Unsupported { .. }) => Ok(()),
            other => Err(format!(
                "scan_returns_exactly_the_matching_keys does not hold for the {name} store: \
                 it does not declare the scan capability, yet scan(\"\") returned {other:?} \
                 rather than Error::Unsupported"
            )),
        };
    }
    drop(probe);
    drop(fixture);
    let fixed_keys = [
        "", "a", "a:", "a:\0", "a:b", "ab", "b", "é", "a*", "a[", "a%", "a_",
    ];
    let fixed = ["", "a", "a:", "a*", "a[", "a%", "zz"]
        .into_iter()
        .map(|prefix| {
            let writes = fixed_keys
                .iter()
                .map(|k| ((*k).to_owned(), false))
                .collect();
            (writes, prefix.to_owned())
        })
        .collect();
    let cases = (
        vec((strategy::narrow_key(4), any::<bool>()), 0..16),
        strategy::narrow_key(2),
    );
    run(
        "scan_returns_exactly_the_matching_keys",
        harness,
        name,
        fixed,
        &cases,
        |(writes, prefix)| {
            let fixture = fresh_case(harness)?;
            let store = fixture.store();
            let rules = Rules::of(harness, &*store);
            let mut present = BTreeSet::new();
            for (key, delete) in writes {
                call(
                    "set",
                    store.set(key, Record::new(0.0, None, key.as_bytes())),
                )?;
                present.insert(key.clone());
                if *delete {
                    call("delete", store.delete(key))?;
                    present.remove(key);
                }
            }
            let expected: BTreeSet<String> = present
                .into_iter()
                .filter(|k| k.starts_with(prefix.as_str()))
                .collect();
            let listed = call("scan", store.scan(prefix))?;
            let unique: BTreeSet<String> = listed.iter().cloned().collect();
            if unique.len() != listed.len() {
                return Err(fail(format!(
                    "scan({prefix:?}) listed a key twice: {listed:?}"
                )));
            }
            let exact = unique == expected;
            if exact || (rules.lossy && unique.is_subset(&expected)) {
                Ok(())
            } else {
                Err(fail(format!(
                    "scan({prefix:?}) returned {unique:?}, expected {expected:?}"
                )))
            }
        },
    )
}

/// `purge_expired(now)` removes only records whose expiry is at or before `now` (the default,
/// which removes nothing, conforms), keeps every other record intact, and counts exactly what
/// it removed.
///
/// # Errors
/// An account of the first live record purged, or a count that does not match.
pub fn purge_expired_removes_only_expired_records(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let name = fixture.store().name();
    drop(fixture);
    let kinds = vec(
        prop_oneof![
            Just(Expiry::AtNow),
            (1.0e-3..1.0e5_f64).prop_map(Expiry::Past),
            (60.0..1.0e6_f64).prop_map(Expiry::Future),
            Just(Expiry::Never),
            Just(Expiry::Nan),
            Just(Expiry::Infinite),
            Just(Expiry::NegativeInfinite),
        ],
        0..16,
    );
    let every_kind = vec![
        Expiry::AtNow,
        Expiry::Past(1.0),
        Expiry::Future(60.0),
        Expiry::Never,
        Expiry::Nan,
        Expiry::Infinite,
        Expiry::NegativeInfinite,
    ];
    run(
        "purge_expired_removes_only_expired_records",
        harness,
        name,
        vec![every_kind],
        &kinds,
        |kinds| {
            let fixture = fresh_case(harness)?;
            let store = fixture.store();
            let rules = Rules::of(harness, &*store);
            let base = now();
            let records: Vec<(String, Record)> = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    let record =
                        Record::new(base, kind.at(base), format!("purge {i}").into_bytes());
                    (format!("purge:{i}"), record)
                })
                .collect();
            for (key, record) in &records {
                call("set", store.set(key, record.clone()))?;
            }
            let purged = call("purge_expired", store.purge_expired(base))?;
            let mut expired = 0_u64;
            let mut gone = 0_u64;
            for (key, record) in &records {
                let got = call("get", store.get(key))?;
                if record.is_expired(base) {
                    expired += 1;
                    gone += u64::from(got.is_none());
                    check_read(key, got.as_ref(), None, rules)
                        .or_else(|_| check_read(key, got.as_ref(), Some(record), rules))?;
                } else if got.is_none() && !rules.lossy {
                    return Err(fail(format!(
                        "purge_expired({base}) removed {key:?}, whose expiry {:?} is after it",
                        record.expiry
                    )));
                } else {
                    check_read(key, got.as_ref(), Some(record), rules)?;
                }
            }
            let counted_right = if rules.lossy || rules.native_expiry {
                purged <= gone
            } else {
                purged == gone
            };
            if counted_right {
                Ok(())
            } else {
                Err(fail(format!(
                    "purge_expired({base}) returned {purged}, but {gone} of {expired} expired \
                     records are gone"
                )))
            }
        },
    )
}

/// Random sequences of `set`, `get`, `delete`, `ttl` (and, for persistent harnesses, reopen)
/// over four keys that are prefixes of each other agree with a `BTreeMap` model.
///
/// # Errors
/// An account of the first operation whose answer differs from the model's, with the sequence
/// shrunk by proptest.
pub fn random_operations_match_a_model(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let name = fixture.store().name();
    drop(fixture);
    let keys = model::model_keys();
    let persistent = harness.is_persistent();
    let fixed = vec![vec![
        Op::Set(1, awkward_records()[0].clone()),
        Op::Get(0),
        Op::Set(1, awkward_records()[1].clone()),
        Op::Get(1),
        Op::Delete(1),
        Op::Get(1),
        Op::Set(3, awkward_records()[2].clone()),
        if persistent { Op::Reopen } else { Op::Ttl(3) },
        Op::Get(3),
        Op::Delete(0),
    ]];
    run(
        "random_operations_match_a_model",
        harness,
        name,
        fixed,
        &model::ops(keys.len(), persistent),
        |ops| {
            let mut fixture = fresh_case(harness)?;
            let rules = Rules::of(harness, &*fixture.store());
            let mut model = Model::new();
            for (step, op) in ops.iter().enumerate() {
                model::apply(&mut fixture, rules, &mut model, &keys, op)
                    .map_err(|e| fail(format!("at step {step} ({}): {}", brief(op), reason(&e))))?;
            }
            model
                .check(&*fixture.store(), rules)
                .map_err(|e| fail(format!("after the sequence: {}", reason(&e))))
        },
    )
}

/// Persistent stores keep every record across a clean reopen (every handle dropped, then the
/// store opened again from its directory), with and without a `flush` first, and declare the
/// persistent capability. A volatile harness has nothing to reopen.
///
/// # Errors
/// An account of the first record lost or changed by a reopen.
///
/// # Panics
/// Never for a conforming harness: the volatile branch asserts the harness is not persistent.
pub fn reopen_keeps_every_record(harness: &Harness) -> Verdict {
    if !harness.is_persistent() {
        assert!(
            !harness.is_persistent(),
            "a volatile harness has nothing to reopen"
        );
        return Ok(());
    }
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let name = store.name();
    if !store.capabilities().persistent {
        return Err(format!(
            "reopen_keeps_every_record does not hold for the {name} store: the harness is \
             persistent but the store does not declare the persistent capability"
        ));
    }
    drop(store);
    drop(fixture);
    let fixed = vec![(
        strategy::awkward_keys()
            .into_iter()
            .zip(awkward_records().into_iter().cycle())
            .enumerate()
            .map(|(i, (key, record))| (key, record, i % 4 == 3))
            .collect(),
        ("after".to_owned(), awkward_records()[0].clone()),
    )];
    let cases = (
        vec((strategy::key(), strategy::record(), any::<bool>()), 1..12),
        (strategy::key(), strategy::record()),
    );
    run(
        "reopen_keeps_every_record",
        harness,
        name,
        fixed,
        &cases,
        |(writes, (late_key, late_record))| {
            let mut fixture = fresh_case(harness)?;
            let rules = Rules::of(harness, &*fixture.store());
            let mut model = Model::new();
            {
                let store = fixture.store();
                for (key, record, delete) in writes {
                    call("set", store.set(key, record.clone()))?;
                    model.set(key, record.clone());
                    if *delete {
                        call("delete", store.delete(key))?;
                        model.delete(key);
                    }
                }
            }
            fixture.reopen().map_err(fail)?;
            model
                .check(&*fixture.store(), rules)
                .map_err(|e| fail(format!("after a reopen: {}", reason(&e))))?;
            {
                let store = fixture.store();
                call("set", store.set(late_key, late_record.clone()))?;
                model.set(late_key, late_record.clone());
                call("flush", store.flush())?;
            }
            fixture.reopen().map_err(fail)?;
            model
                .check(&*fixture.store(), rules)
                .map_err(|e| fail(format!("after a flush and a second reopen: {}", reason(&e))))
        },
    )
}

/// One thread of [`concurrent_threads_keep_written_records`]: returns its last operation on
/// each key (`Some(None)` for a delete), or the first wrong read it saw.
fn worker(
    store: &dyn Store,
    keys: &[String],
    thread: usize,
    ops: usize,
) -> Result<Vec<Option<Option<Record>>>, String> {
    let mut rng =
        0x9E37_79B9_7F4A_7C15_u64 ^ (thread as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut last: Vec<Option<Option<Record>>> = vec![None; keys.len()];
    for seq in 0..ops {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let k = (rng % keys.len() as u64) as usize;
        let key = &keys[k];
        match (rng >> 32) % 10 {
            0..=5 => {
                let record = written(k, thread, seq);
                store
                    .set(key, record.clone())
                    .map_err(|e| format!("set failed: {e}"))?;
                last[k] = Some(Some(record));
            }
            6..=8 => {
                let got = store.get(key).map_err(|e| format!("get failed: {e}"))?;
                let Some(got) = got else { continue };
                let origin = written_by(&got)
                    .filter(|&(key_index, _, _)| key_index == k)
                    .map(|(_, t, s)| (t, s));
                let Some((writer, _)) = origin.filter(|&(t, s)| got == written(k, t, s)) else {
                    return Err(format!(
                        "get({}) returned {}, which no thread wrote to that key",
                        show_key(key),
                        show_record(Some(&got))
                    ));
                };
                // Our own older writes were overwritten by our newer ones before this read.
                if writer == thread && last[k].as_ref() != Some(&Some(got.clone())) {
                    return Err(format!(
                        "thread {thread} read back its own overwritten or deleted record \
                         {} from get({})",
                        show_record(Some(&got)),
                        show_key(key)
                    ));
                }
            }
            _ => {
                store
                    .delete(key)
                    .map_err(|e| format!("delete failed: {e}"))?;
                last[k] = Some(None);
            }
        }
    }
    Ok(last)
}

/// The record thread `thread` writes to key `key` at step `seq`: every field tells its origin.
fn written(key: usize, thread: usize, seq: usize) -> Record {
    let mut value = vec![key as u8, thread as u8];
    value.extend_from_slice(&(seq as u32).to_le_bytes());
    value.resize(6 + (seq % 7) * 40, thread as u8);
    let expiry = (seq % 2 == 1).then_some(4.0e9 + seq as f64);
    Record::new(seq as f64 + 0.5, expiry, value).with_etag(vec![thread as u8, key as u8])
}

/// The origin `(key, thread, seq)` that a record's value claims.
fn written_by(record: &Record) -> Option<(usize, usize, usize)> {
    let v = &record.value;
    let seq = u32::from_le_bytes(v.get(2..6)?.try_into().ok()?);
    Some((usize::from(v[0]), usize::from(v[1]), seq as usize))
}

/// `base`, then `base` plus each successive suffix: keys that are prefixes of each other.
fn chain(base: &str, suffixes: &[&str]) -> Vec<String> {
    let mut key = base.to_owned();
    let mut keys = vec![key.clone()];
    for suffix in suffixes {
        key.push_str(suffix);
        keys.push(key.clone());
    }
    keys
}

/// The expiry of a record in the purge property, relative to the purge time.
#[derive(Clone, Copy, Debug)]
enum Expiry {
    AtNow,
    Past(f64),
    Future(f64),
    Never,
    Nan,
    Infinite,
    NegativeInfinite,
}

impl Expiry {
    fn at(self, base: f64) -> Option<f64> {
        match self {
            Expiry::AtNow => Some(base),
            Expiry::Past(secs) => Some(base - secs),
            Expiry::Future(secs) => Some(base + secs),
            Expiry::Never => None,
            Expiry::Nan => Some(f64::NAN),
            Expiry::Infinite => Some(f64::INFINITY),
            Expiry::NegativeInfinite => Some(f64::NEG_INFINITY),
        }
    }
}

/// [`check`]s `test` on one store against each key with a record: the awkward keys, each with
/// one of the awkward records, then random pairs.
fn check_key_record(
    property: &str,
    harness: &Harness,
    test: impl Fn(&dyn Store, Rules, &str, &Record) -> Case,
) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    let fixed = strategy::awkward_keys()
        .into_iter()
        .zip(awkward_records().into_iter().cycle())
        .collect();
    run(
        property,
        harness,
        store.name(),
        fixed,
        &(strategy::key(), strategy::record()),
        |(key, record)| test(&*store, rules, key, record),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_makes_keys_that_are_prefixes_of_each_other() {
        assert_eq!(chain("a", &[":", "\0"]), ["a", "a:", "a:\0"]);
    }

    #[test]
    fn concurrent_records_tell_their_origin() {
        let record = written(3, 5, 70_000);
        assert_eq!(written_by(&record), Some((3, 5, 70_000)));
        assert_eq!(written_by(&Record::new(0.0, None, vec![1])), None);
    }
}
