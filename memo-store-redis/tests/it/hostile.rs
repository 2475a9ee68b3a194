//! Keys and values chosen to break a careless Redis client, and values that are not records.

use memo_core::{Error, Memoizer, Options, Record, Store};

use crate::support;

/// Keys with glob characters, whitespace, RESP syntax, NUL and a 64 KiB key.
fn hostile_keys() -> Vec<String> {
    vec![
        "with space".to_owned(),
        "line\nbreak".to_owned(),
        "\r\n".to_owned(),
        "*".to_owned(),
        "star*".to_owned(),
        "?[a-z]\\".to_owned(),
        "*3\r\n$3\r\nDEL\r\n$1\r\nk\r\n".to_owned(),
        "\0".to_owned(),
        "\"quoted\" 'single'".to_owned(),
        "ключ 🎉".to_owned(),
        String::new(),
        "k".repeat(64 * 1024),
        format!("{}\n*{}", "x".repeat(40_000), " ".repeat(30_000)),
    ]
}

/// Values that look like protocol, records, or nothing at all.
fn hostile_values() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        (0..=255).collect(),
        b"$-1\r\n".to_vec(),
        b"-ERR not really\r\n".to_vec(),
        Record::new(1.0, None, vec![1]).encode(),
        vec![0; 70_000],
        vec![0xFF; 3],
    ]
}

#[test]
fn hostile_keys_and_binary_values_round_trip() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let keys = hostile_keys();
    for (i, key) in keys.iter().enumerate() {
        for value in hostile_values() {
            let record = Record::new(1.5, None, value).with_etag(vec![0, 13, 10]);
            store.set(key, record.clone()).unwrap();
            assert_eq!(store.get(key).unwrap(), Some(record), "key #{i}");
        }
    }
    // Every key kept its own record: none overwrote or deleted another.
    let mut found = store.scan("").unwrap();
    found.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(found, expected);
    for key in &keys {
        assert!(store.delete(key).unwrap());
    }
    assert!(store.scan("").unwrap().is_empty());
}

#[test]
fn hostile_keys_round_trip_through_the_memoizer() {
    let Some(url) = support::url() else { return };
    let memo = Memoizer::new(support::store(&url));
    let opts = Options::new().namespace("ns *\n");
    for (i, key) in hostile_keys().iter().enumerate() {
        let value: Vec<u8> = (0..=255_u8).rev().chain([b'\r', b'\n']).collect();
        let first: Vec<u8> = memo.get_with(key, &opts, || value.clone()).unwrap();
        let second: Vec<u8> = memo
            .get_with(key, &opts, || panic!("key #{i} was not cached"))
            .unwrap();
        assert_eq!((first, &second), (value.clone(), &value));
        assert!(memo.exists_with(key, &opts).unwrap());
    }
    assert_eq!(memo.stats().computations, hostile_keys().len() as u64);
}

#[test]
fn a_value_that_is_not_a_record_is_a_codec_error_and_a_memoizer_miss() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let mut wrong_protocol = Record::new(1.0, None, vec![1]).encode();
    wrong_protocol[0] = 3;
    let mut trailing = Record::new(1.0, None, vec![1]).encode();
    trailing.push(0);
    let junk: [&[u8]; 5] = [b"hello", b"", &wrong_protocol, &trailing, &[0x01, 0xFF]];
    let memo = Memoizer::new(store.clone());
    for (i, bytes) in junk.iter().enumerate() {
        let key = format!("junk-{i}");
        let _: () = redis::cmd("SET")
            .arg(store.record_key(&key))
            .arg(*bytes)
            .query(&mut raw)
            .unwrap();
        assert!(
            matches!(store.get(&key), Err(Error::Codec(_))),
            "junk #{i} read as something"
        );
        let codec_errors = memo.stats().codec_errors;
        assert_eq!(memo.get(&key, || 40 + i).unwrap(), 40 + i);
        // Counted once per read: the first, and the double check under the lock.
        assert!(memo.stats().codec_errors > codec_errors);
        // The Memoizer wrote a real record over the junk.
        assert_eq!(memo.get(&key, || 0).unwrap(), 40 + i);
    }
}

#[test]
fn a_key_of_another_redis_type_is_a_backend_error_and_a_memoizer_miss() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let mut raw = support::raw(&url);
    let _: u64 = redis::cmd("RPUSH")
        .arg(store.record_key("list"))
        .arg("a")
        .query(&mut raw)
        .unwrap();
    assert!(matches!(
        store.get("list"),
        Err(Error::Backend { store: "redis", .. })
    ));
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("list", || 5_u8).unwrap(), 5);
    assert!(memo.stats().store_errors >= 1);
    // The write replaced the list with a record.
    assert_eq!(memo.get("list", || 6_u8).unwrap(), 5);
    // A strict caller sees the error instead.
    let strict = Options::new().strict(true);
    let _: u64 = redis::cmd("RPUSH")
        .arg(store.record_key("list2"))
        .arg("a")
        .query(&mut raw)
        .unwrap();
    assert!(matches!(
        memo.get_with("list2", &strict, || 5_u8),
        Err(Error::Backend { store: "redis", .. })
    ));
}
