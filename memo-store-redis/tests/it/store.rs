//! The store on a real server: native expiry, `ttl`, scan, the key spaces, the builder.

use std::collections::HashSet;
use std::time::Duration;

use memo_core::{Clock, Error, Memoizer, Options, Record, Store, SystemClock};
use memo_store_redis::RedisStore;

use crate::support;

fn exists(raw: &mut redis::Connection, key: &[u8]) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<u64>(raw)
        .expect("EXISTS")
        == 1
}

fn pttl(raw: &mut redis::Connection, key: &[u8]) -> i64 {
    redis::cmd("PTTL").arg(key).query(raw).expect("PTTL")
}

#[test]
fn redis_removes_the_record_after_its_expiry_and_not_before() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let key = store.record_key("short-lived");
    let now = SystemClock.now();
    let expiry = now + 0.3;
    let record = Record::new(now, Some(expiry), vec![1, 2, 3]);
    store.set("short-lived", record.clone()).unwrap();
    // 300 ms rounded up, counted by Redis from when it got the SET (the rounding itself is
    // pinned by the unit tests, and early expiry by the conformance suite).
    let left = pttl(&mut raw, &key);
    assert!(
        (1..=301).contains(&left),
        "a record with an expiry gets a Redis expiry, PTTL {left}"
    );
    if SystemClock.now() < expiry {
        assert_eq!(store.get("short-lived").unwrap(), Some(record));
    }
    // Redis has its own clock: a short real wait past the expiry, then the key is gone
    // without anyone deleting it (EXISTS expires it lazily if the active cycle did not).
    while SystemClock.now() < expiry + 0.002 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !exists(&mut raw, &key),
        "Redis still holds an expired record"
    );
    assert_eq!(store.get("short-lived").unwrap(), None);
}

#[test]
fn record_without_expiry_has_no_redis_expiry() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    store
        .set("forever", Record::new(SystemClock.now(), None, vec![7]))
        .unwrap();
    assert_eq!(pttl(&mut raw, &store.record_key("forever")), -1);
    assert_eq!(store.ttl("forever").unwrap(), None);
}

#[test]
fn record_already_expired_is_not_stored_and_replaces_the_old_one() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let now = SystemClock.now();
    store
        .set("k", Record::new(now, Some(now + 60.0), vec![1]))
        .unwrap();
    assert!(exists(&mut raw, &store.record_key("k")));
    for past in [now - 1.0, 0.0, f64::NEG_INFINITY] {
        store
            .set("k", Record::new(now, Some(past), vec![2]))
            .unwrap();
        assert!(!exists(&mut raw, &store.record_key("k")), "expiry {past}");
        assert_eq!(store.get("k").unwrap(), None);
    }
}

#[test]
fn expiries_redis_cannot_hold_are_kept_without_a_redis_expiry() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    for (i, expiry) in [f64::NAN, f64::INFINITY, f64::MAX, 1e300]
        .into_iter()
        .enumerate()
    {
        let key = format!("far-{i}");
        let record = Record::new(1.0, Some(expiry), vec![9]);
        store.set(&key, record.clone()).unwrap();
        assert_eq!(store.get(&key).unwrap(), Some(record), "expiry {expiry}");
        assert_eq!(
            pttl(&mut raw, &store.record_key(&key)),
            -1,
            "expiry {expiry}"
        );
    }
}

#[test]
fn ttl_is_never_above_the_truth() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let now = SystemClock.now();
    let expiry = now + 5.0;
    store
        .set("k", Record::new(now, Some(expiry), vec![1]))
        .unwrap();
    for _ in 0..200 {
        let before = SystemClock.now();
        let ttl = store.ttl("k").unwrap().expect("a live record has a ttl");
        let truth = expiry - before;
        assert!(
            ttl.as_secs_f64() <= truth,
            "ttl {ttl:?} above the truth {truth} s"
        );
        assert!(!ttl.is_zero());
    }
    assert_eq!(store.ttl("missing").unwrap(), None);
}

#[test]
fn ttl_follows_a_shorter_redis_expiry() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let now = SystemClock.now();
    store
        .set("k", Record::new(now, Some(now + 3600.0), vec![1]))
        .unwrap();
    let _: u64 = redis::cmd("PEXPIRE")
        .arg(store.record_key("k"))
        .arg(2000)
        .query(&mut raw)
        .unwrap();
    let ttl = store.ttl("k").unwrap().expect("still there");
    assert!(
        ttl <= Duration::from_secs(2),
        "ttl {ttl:?} ignores Redis's expiry"
    );
}

#[test]
fn ttl_of_a_value_that_is_not_a_record_is_a_codec_error() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let _: () = redis::cmd("SET")
        .arg(store.record_key("junk"))
        .arg("hello")
        .query(&mut raw)
        .unwrap();
    assert!(matches!(store.ttl("junk"), Err(Error::Codec(_))));
}

#[test]
fn scan_walks_every_cursor_and_matches_the_prefix_literally() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    // Expiring, so that the thousands of keys leave a developer's server on their own.
    let now = SystemClock.now();
    let record = Record::new(now, Some(now + 120.0), vec![0]);
    let mut expected = HashSet::new();
    // More keys than one SCAN round trip returns.
    for i in 0..2500 {
        let key = format!("ns:{i}");
        store.set(&key, record.clone()).unwrap();
        expected.insert(key);
    }
    for key in ["ns:*", "ns:[a]", "ns:?"] {
        store.set(key, record.clone()).unwrap();
        expected.insert(key.to_owned());
    }
    for key in ["nsx", "other", "*", "n"] {
        store.set(key, record.clone()).unwrap();
    }
    let lock = store.redis_lock("ns:locked");
    assert!(memo_core::Lock::acquire(&lock, Duration::ZERO).unwrap());

    let found: HashSet<String> = store.scan("ns:").unwrap().into_iter().collect();
    assert_eq!(found.len(), expected.len());
    assert_eq!(found, expected, "lock keys and other prefixes stay out");
    let star: HashSet<String> = store.scan("ns:*").unwrap().into_iter().collect();
    assert_eq!(star, HashSet::from(["ns:*".to_owned()]));
    assert_eq!(store.scan("*").unwrap(), vec!["*".to_owned()]);
    assert_eq!(store.scan("").unwrap().len(), expected.len() + 4);
}

#[test]
fn scan_sees_only_its_own_prefix() {
    let Some(url) = support::url() else { return };
    let (one, two) = (support::store(&url), support::store(&url));
    let record = Record::new(1.0, None, vec![0]);
    one.set("a", record.clone()).unwrap();
    two.set("b", record).unwrap();
    assert_eq!(one.scan("").unwrap(), vec!["a".to_owned()]);
    assert_eq!(two.scan("").unwrap(), vec!["b".to_owned()]);
    assert_eq!(one.get("b").unwrap(), None);
}

#[test]
fn clear_with_a_namespace_removes_only_that_namespace() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let memo = Memoizer::new(store.clone());
    let ns = Options::new().namespace("reports");
    for i in 0..10_u32 {
        let _: u32 = memo.get_with(&format!("r{i}"), &ns, || i).unwrap();
    }
    let _: u32 = memo.get("outside", || 1).unwrap();
    assert_eq!(memo.clear_with(&ns).unwrap(), 10);
    assert!(store.scan("reports:").unwrap().is_empty());
    assert_eq!(store.scan("").unwrap(), vec!["outside".to_owned()]);
}

#[test]
fn records_and_locks_live_in_separate_key_spaces() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let prefix = store.prefix().as_bytes().to_vec();
    for key in ["", "k", "c:k", "l:k", "a:b"] {
        let (record, lock) = (store.record_key(key), store.lock_key(key));
        assert_eq!(record, [&prefix[..], b"c:", key.as_bytes()].concat());
        assert_eq!(lock, [&prefix[..], b"l:", key.as_bytes()].concat());
    }
    // The lock of a key and the record of the same key coexist.
    let lock = store.redis_lock("k");
    assert!(memo_core::Lock::acquire(&lock, Duration::ZERO).unwrap());
    let record = Record::new(1.0, None, vec![5]);
    store.set("k", record.clone()).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(record));
    let held: Option<String> = redis::cmd("GET")
        .arg(store.lock_key("k"))
        .query(&mut raw)
        .unwrap();
    assert_eq!(held, lock.token());
    assert!(store.delete("k").unwrap());
    assert!(!store.delete("k").unwrap());
    assert!(
        exists(&mut raw, &store.lock_key("k")),
        "deleting a record kept the lock"
    );
}

#[test]
fn capabilities_and_name() {
    let Some(url) = support::url() else { return };
    let caps = support::store(&url).capabilities();
    assert!(caps.shared && caps.native_expiry && caps.scan && caps.lossy);
    assert!(!caps.persistent);
    assert_eq!(support::store(&url).name(), "redis");
}

#[test]
fn builder_rejects_bad_settings_as_config_errors() {
    let builder = || RedisStore::builder("redis://127.0.0.1:1/").lazy(true);
    let bad = [
        RedisStore::builder("http://example.com/").lazy(true),
        RedisStore::builder("not a url").lazy(true),
        builder().connect_timeout(Duration::ZERO),
        builder().read_timeout(Duration::ZERO),
        builder().write_timeout(Duration::ZERO),
        builder().pool_size(0),
        builder().lock_lease(Duration::from_micros(999)),
        builder().lock_lease(Duration::from_secs(366 * 24 * 3600)),
        builder().lock_lease(Duration::MAX),
        builder().lock_backoff(Duration::ZERO, Duration::from_millis(1)),
        builder().lock_backoff(Duration::from_millis(2), Duration::from_millis(1)),
    ];
    for b in bad {
        let shown = format!("{b:?}");
        assert!(
            matches!(b.build(), Err(Error::Config(_))),
            "accepted {shown}"
        );
    }
    // Lazy: no connection yet, so a server that is not there is no error.
    let store = builder()
        .build()
        .expect("a lazy store builds without a server");
    assert!(format!("{store:?}").contains("127.0.0.1:1"));
}

#[test]
fn debug_output_hides_the_password() {
    let store = RedisStore::builder("redis://:hunter2@127.0.0.1:1/")
        .lazy(true)
        .build()
        .unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("memo:"), "{shown}");
}

#[test]
fn clones_share_one_pool_and_see_each_others_writes() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let clone = store.clone();
    let record = Record::new(1.0, None, vec![4]);
    store.set("shared", record.clone()).unwrap();
    assert_eq!(clone.get("shared").unwrap(), Some(record));
    let other = RedisStore::builder(&url)
        .prefix(store.prefix())
        .build()
        .unwrap();
    assert!(
        other.get("shared").unwrap().is_some(),
        "same prefix, same records"
    );
}

#[test]
fn a_tls_url_is_a_config_error_since_tls_is_not_built_in() {
    let built = RedisStore::builder("rediss://127.0.0.1:1/")
        .lazy(true)
        .build();
    assert!(matches!(built, Err(Error::Config(_))), "{built:?}");
}
