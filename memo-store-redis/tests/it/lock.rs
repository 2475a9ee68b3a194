//! `RedisLock` in one process: exclusion, token-checked release, lease, and the Memoizer's use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use memo_core::{Acquired, Clock, Error, Lock, Memoizer, Options, Record, Store};
use memo_store_redis::RedisStore;

use crate::support;

fn lock_value(raw: &mut redis::Connection, key: &[u8]) -> Option<String> {
    redis::cmd("GET").arg(key).query(raw).expect("GET")
}

/// The server's `MONITOR` feed, watched for a lock attempt that found `lock_key` held: the
/// lock's script then runs `PTTL` on it. Made before the waiter starts, so that a test knows
/// the waiter is waiting instead of guessing with a sleep.
struct Attempts {
    monitor: redis::Connection,
    line: String,
}

impl Attempts {
    fn watch(url: &str, lock_key: &[u8]) -> Self {
        let monitor = support::monitor(url);
        let key = std::str::from_utf8(lock_key).expect("an ASCII test key");
        let line = format!("\"PTTL\" \"{key}\"");
        Attempts { monitor, line }
    }

    /// Returns once an attempt has found the lock held; panics after 30 s (a hang guard).
    fn wait_for_one(mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.monitor.recv_response() {
                Ok(redis::Value::SimpleString(line)) if line.contains(&self.line) => return,
                Ok(_) => {}
                Err(error) if error.is_timeout() => {}
                Err(error) => panic!("MONITOR failed: {error}"),
            }
        }
        panic!("no lock attempt found the lock held within 30 s");
    }
}

#[test]
fn a_held_lock_excludes_others_until_released() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let (a, b) = (store.redis_lock("k"), store.redis_lock("k"));
    assert!(a.acquire(Duration::ZERO).unwrap());
    let token = a.token().expect("a holds a token");
    assert_eq!(lock_value(&mut raw, a.key()), Some(token));
    assert!(!b.acquire(Duration::ZERO).unwrap());
    assert!(
        !b.acquire(Duration::from_millis(60)).unwrap(),
        "b waited, a still holds"
    );
    assert_eq!(b.token(), None);
    // Another key is another lock.
    assert!(store.redis_lock("other").acquire(Duration::ZERO).unwrap());
    a.release().unwrap();
    assert_eq!(lock_value(&mut raw, a.key()), None);
    assert!(b.acquire(Duration::ZERO).unwrap());
    assert_ne!(b.token(), a.token(), "every lease has its own token");
    b.release().unwrap();
    b.release().unwrap();
}

#[test]
fn a_waiter_gets_the_lock_when_the_holder_releases() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let holder = store.redis_lock("k");
    assert!(holder.acquire(Duration::ZERO).unwrap());
    let released = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (store, released) = (store.clone(), released.clone());
        std::thread::spawn(move || {
            let lock = store.redis_lock("k");
            let got = lock.acquire(Duration::from_secs(30)).unwrap();
            (got, released.load(Ordering::SeqCst))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    released.store(true, Ordering::SeqCst);
    holder.release().unwrap();
    let (got, after_release) = waiter.join().unwrap();
    assert!(got, "the waiter timed out");
    assert!(after_release, "the waiter got the lock while it was held");
}

#[test]
fn a_holder_whose_lease_ran_out_cannot_delete_the_next_holders_lock() {
    let Some(url) = support::url() else { return };
    let store = support::builder(&url)
        .lock_lease(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let mut raw = support::raw(&url);
    let old = store.redis_lock("k");
    assert!(old.acquire(Duration::ZERO).unwrap());
    support::wait_until("the lease to run out", Duration::from_secs(30), || {
        lock_value(&mut raw, old.key()).is_none()
    });
    let new = store.redis_lock("k");
    assert!(new.acquire(Duration::ZERO).unwrap());
    old.release().expect("a late release is no error");
    assert_eq!(
        lock_value(&mut raw, new.key()),
        new.token(),
        "the old holder deleted the new holder's lock"
    );
    new.release().unwrap();
    assert_eq!(lock_value(&mut raw, new.key()), None);
}

#[test]
fn the_lock_key_expires_with_the_lease() {
    let Some(url) = support::url() else { return };
    let store = support::builder(&url)
        .lock_lease(Duration::from_millis(1500))
        .build()
        .unwrap();
    let mut raw = support::raw(&url);
    let lock = store.redis_lock("k");
    assert!(lock.acquire(Duration::ZERO).unwrap());
    let pttl: i64 = redis::cmd("PTTL").arg(lock.key()).query(&mut raw).unwrap();
    assert!((1..=1500).contains(&pttl), "PTTL {pttl}");
}

#[test]
fn dropping_a_held_lock_releases_it() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let lock = store.redis_lock("k");
    let key = lock.key().to_vec();
    assert!(lock.acquire(Duration::ZERO).unwrap());
    drop(lock);
    assert_eq!(lock_value(&mut raw, &key), None);
}

#[test]
fn the_memoizer_holds_the_store_lock_while_computing() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let memo = Memoizer::new(store.clone());
    let mut raw = support::raw(&url);
    let lock_key = store.lock_key("ns:k");
    let opts = Options::new().namespace("ns");
    let held: bool = memo
        .get_with("k", &opts, || {
            lock_value(&mut support::raw(&url), &lock_key).is_some()
        })
        .unwrap();
    assert!(held, "the lock was not held during the computation");
    assert_eq!(lock_value(&mut raw, &lock_key), None, "not released");
    assert!(store.lock("ns:k").is_some());
}

#[test]
fn without_locking_the_memoizer_takes_no_redis_lock() {
    let Some(url) = support::url() else { return };
    let store = support::builder(&url).locking(false).build().unwrap();
    assert!(store.lock("k").is_none());
    let memo = Memoizer::new(store.clone());
    let lock_key = store.lock_key("k");
    let held: bool = memo
        .get("k", || {
            lock_value(&mut support::raw(&url), &lock_key).is_some()
        })
        .unwrap();
    assert!(!held);
}

#[test]
fn a_lock_held_elsewhere_times_out_then_the_memoizer_computes_or_errors() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let other = store.redis_lock("k");
    assert!(other.acquire(Duration::ZERO).unwrap());
    let memo = Memoizer::new(store.clone());
    let quick = Options::new().timeout(Duration::from_millis(50));
    assert_eq!(memo.get_with("k", &quick, || 1_u8).unwrap(), 1);
    assert_eq!(memo.stats().lock_timeouts, 1);
    store.delete("k").unwrap();
    let strict = quick.clone().strict(true);
    assert!(matches!(
        memo.get_with("k", &strict, || 2_u8),
        Err(Error::LockTimeout { .. })
    ));
}

#[test]
fn a_planted_lock_key_without_expiry_blocks_for_one_lease_not_forever() {
    const LEASE: Duration = Duration::from_millis(500);
    let Some(url) = support::url() else { return };
    let store = support::builder(&url).lock_lease(LEASE).build().unwrap();
    let mut raw = support::raw(&url);
    let pttl = |raw: &mut redis::Connection, key: &[u8]| -> i64 {
        redis::cmd("PTTL").arg(key).query(raw).unwrap()
    };
    let plant = |raw: &mut redis::Connection, key: &[u8]| {
        let _: () = redis::cmd("SET").arg(key).arg("junk").query(raw).unwrap();
        assert_eq!(pttl(raw, key), -1, "planted without an expiry");
    };

    // One attempt that finds the key gives it one lease.
    let lock = store.redis_lock("k");
    plant(&mut raw, lock.key());
    assert!(!lock.acquire(Duration::ZERO).unwrap());
    let left = pttl(&mut raw, lock.key());
    assert!(
        (1..=500).contains(&left),
        "PTTL {left} after an attempt, want 1..=500"
    );
    assert_eq!(lock_value(&mut raw, lock.key()).as_deref(), Some("junk"));

    // A miss waits for that lease, not for its 60 s timeout: it gets the lock, no timeout.
    let memo = Memoizer::new(store.clone());
    let patient = Options::new().timeout(Duration::from_secs(60));
    plant(&mut raw, &store.lock_key("m"));
    let started = Instant::now();
    assert_eq!(memo.get_with("m", &patient, || 3_u8).unwrap(), 3);
    eprintln!(
        "a miss behind a planted lock key took {:?} (lease {LEASE:?})",
        started.elapsed()
    );
    let stats = memo.stats();
    assert_eq!((stats.computations, stats.lock_timeouts), (1, 0));
    assert_eq!(lock_value(&mut raw, &store.lock_key("m")), None, "released");
    assert_eq!(memo.get("m", || 0_u8).unwrap(), 3);
}

#[test]
fn a_waiter_leaves_the_lease_of_a_live_holder_alone() {
    let Some(url) = support::url() else { return };
    let prefix = support::unique_prefix();
    let holder = RedisStore::builder(&url)
        .prefix(&prefix)
        .lock_lease(Duration::from_secs(60))
        .build()
        .unwrap();
    let waiter = RedisStore::builder(&url)
        .prefix(&prefix)
        .lock_lease(Duration::from_millis(100))
        .build()
        .unwrap();
    let held = holder.redis_lock("k");
    assert!(held.acquire(Duration::ZERO).unwrap());
    let other = waiter.redis_lock("k");
    assert!(!other.acquire(Duration::from_millis(50)).unwrap());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(held.key())
        .query(&mut support::raw(&url))
        .unwrap();
    assert!(
        pttl > 1000,
        "the waiter shortened the holder's lease to {pttl} ms"
    );
    assert_eq!(
        lock_value(&mut support::raw(&url), held.key()),
        held.token()
    );
}

#[test]
fn the_record_lock_reads_as_it_takes_and_writes_before_it_releases() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let before = Record::new(1.0, None, vec![1]);
    store.set("k", before.clone()).unwrap();
    let lock = store.record_lock("k").expect("locking is on");
    match lock.acquire_reading(Duration::ZERO).unwrap() {
        Acquired::Read(Ok(Some(found))) => assert_eq!(found, before),
        other => panic!("the record was not read as the lock was taken: {other:?}"),
    }
    let lock_key = store.lock_key("k");
    assert!(lock_value(&mut raw, &lock_key).is_some(), "not held");
    let rival = store.record_lock("k").expect("locking is on");
    assert!(matches!(
        rival.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::TimedOut
    ));

    let far = memo_core::SystemClock.now() + 600.0;
    let after = Record::new(2.0, Some(far), vec![2]);
    assert!(lock.release_writing(&after).unwrap(), "write and release");
    assert_eq!(lock_value(&mut raw, &lock_key), None, "not released");
    assert_eq!(store.get("k").unwrap(), Some(after.clone()));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.record_key("k"))
        .query(&mut raw)
        .unwrap();
    assert!((1..=600_000).contains(&pttl), "the write's PX: {pttl}");
    assert!(
        !lock.release_writing(&before).unwrap(),
        "a handle that no longer holds the lock writes nothing"
    );
    assert_eq!(store.get("k").unwrap(), Some(after));

    // A free key reads as no record; the plain lock reads and writes nothing.
    store.delete("k").unwrap();
    assert!(matches!(
        rival.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::Read(Ok(None))
    ));
    rival.release().unwrap();
    let plain = store.lock("k").expect("locking is on");
    assert!(matches!(
        plain.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::Held
    ));
    assert!(!plain.release_writing(&before).unwrap());
    assert_eq!(store.get("k").unwrap(), None);
    plain.release().unwrap();
    assert_eq!(lock_value(&mut raw, &lock_key), None);
}

#[test]
fn a_waiter_on_a_key_without_a_record_stops_when_the_holder_writes_one() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let holder = store.record_lock("k").expect("locking is on");
    assert!(matches!(
        holder.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::Read(Ok(None))
    ));
    let attempts = Attempts::watch(&url, &store.lock_key("k"));
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let lock = store.record_lock("k").expect("locking is on");
            let outcome = lock.acquire_reading(Duration::from_secs(30)).unwrap();
            // Holding nothing, its release must leave the lock taken below alone.
            lock.release().unwrap();
            outcome
        })
    };
    // Its first attempt saw no record: from then on a written record is what it waits for.
    attempts.wait_for_one();
    let far = memo_core::SystemClock.now() + 600.0;
    let written = Record::new(2.0, Some(far), vec![2]);
    assert!(holder.release_writing(&written).unwrap());
    // Taking the lock back at once: the waiter must stop on the record, not on the lock.
    let again = store.record_lock("k").expect("locking is on");
    assert!(matches!(
        again.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::Read(Ok(Some(_)))
    ));
    match waiter.join().unwrap() {
        Acquired::Written(found) => assert_eq!(found, written),
        other => panic!("the waiter did not stop on the written record: {other:?}"),
    }
    let mut raw = support::raw(&url);
    let lock_key = store.lock_key("k");
    assert!(
        lock_value(&mut raw, &lock_key).is_some(),
        "the waiter released a lock it did not hold"
    );
    again.release().unwrap();
    assert_eq!(lock_value(&mut raw, &lock_key), None);
}

#[test]
fn a_waiter_on_a_key_with_a_record_waits_for_the_lock_itself() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let far = memo_core::SystemClock.now() + 600.0;
    store
        .set("k", Record::new(1.0, Some(far), vec![1]))
        .unwrap();
    let holder = store.record_lock("k").expect("locking is on");
    assert!(matches!(
        holder.acquire_reading(Duration::ZERO).unwrap(),
        Acquired::Read(Ok(Some(_)))
    ));
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let lock = store.record_lock("k").expect("locking is on");
            lock.acquire_reading(Duration::from_millis(300)).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    // A rewrite under a held lock is not what this waiter waits for: it times out.
    store
        .set("k", Record::new(2.0, Some(far), vec![2]))
        .unwrap();
    assert!(matches!(waiter.join().unwrap(), Acquired::TimedOut));
    holder.release().unwrap();
}

#[test]
fn the_memoizer_takes_a_value_stored_while_it_waited_for_the_lock() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let holder = store.redis_lock("k");
    assert!(holder.acquire(Duration::ZERO).unwrap());
    let memo = Memoizer::new(store.clone());
    let attempts = Attempts::watch(&url, holder.key());
    let waiter = {
        let memo = memo.clone();
        std::thread::spawn(move || {
            let wait = Options::new().timeout(Duration::from_secs(30));
            memo.get_with("k", &wait, || 0_u32)
        })
    };
    // It missed, and found the lock held.
    attempts.wait_for_one();
    // Another process computed meanwhile: its Memoizer writes, then the lock is released.
    let elsewhere = Memoizer::new(store.clone());
    let no_lock = Options::new().no_lock();
    assert_eq!(elsewhere.get_with("k", &no_lock, || 7_u32).unwrap(), 7);
    holder.release().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 7);
    assert_eq!(memo.stats().computations, 0, "the double check missed it");
    assert_eq!(memo.stats().misses, 1);
}
