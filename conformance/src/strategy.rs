//! Random keys and records for the properties (proptest strategies), and the fixed awkward
//! ones they start with. Public, so a property of an author's own draws from the same inputs.

use proptest::collection::vec;
use proptest::prelude::*;

use memo_core::{Clock, Record, SystemClock};

/// Any `f64` bit pattern, with the awkward ones (NaN, ±0, ±inf) made likely.
pub fn time() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..4.0e9_f64,
        2 => proptest::num::f64::ANY,
        2 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
        ]),
    ]
}

/// Any bytes, at most `max` of them.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// A record of these fields.
pub fn assemble(
    created: f64,
    expiry: Option<f64>,
    etag: Option<Vec<u8>>,
    value: Vec<u8>,
) -> Record {
    let record = Record::new(created, expiry, value);
    match etag {
        Some(etag) => record.with_etag(etag),
        None => record,
    }
}

/// Any record: every field free, values up to 4 KiB.
pub fn record() -> impl Strategy<Value = Record> {
    record_expiring(prop::option::of(time()))
}

/// A record whose expiry comes from `expiry`, the other fields free.
pub fn record_expiring(
    expiry: impl Strategy<Value = Option<f64>>,
) -> impl Strategy<Value = Record> {
    (
        time(),
        expiry,
        prop::option::of(bytes(64)),
        prop_oneof![4 => bytes(64), 1 => bytes(4096)],
    )
        .prop_map(|(created, expiry, etag, value)| assemble(created, expiry, etag, value))
}

/// A character, with `:`, NUL and non-ASCII made likely.
pub fn key_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range('a', 'e'),
        1 => Just(':'),
        1 => Just('\0'),
        2 => any::<char>(),
    ]
}

/// Any string key: empty, short, or longer than 4 KiB.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => short_key(24),
        1 => long_key(),
    ]
}

/// A key of at most `max` characters.
pub fn short_key(max: usize) -> impl Strategy<Value = String> {
    vec(key_char(), 0..=max).prop_map(String::from_iter)
}

/// A key of more than 4 KiB.
pub fn long_key() -> impl Strategy<Value = String> {
    (vec(key_char(), 0..8), 4096..5000_usize).prop_map(|(tail, len)| {
        let mut key = "k".repeat(len);
        key.extend(tail);
        key
    })
}

/// A key from a small alphabet, so that random prefixes often match.
pub fn narrow_key(max: usize) -> impl Strategy<Value = String> {
    vec(
        prop::sample::select(vec!['a', 'b', ':', '\0', 'é', '*', '[']),
        0..=max,
    )
    .prop_map(String::from_iter)
}

/// Keys that hard stores get wrong: empty, long, separators, NUL, every plane of Unicode.
pub fn awkward_keys() -> Vec<String> {
    vec![
        String::new(),
        "a".to_owned(),
        ":".to_owned(),
        "\0".to_owned(),
        "a\0b".to_owned(),
        "a:b:c".to_owned(),
        "*?[]{}\\%_".to_owned(),
        " \t\r\n".to_owned(),
        "ключ:日本語:🎉".to_owned(),
        "\u{FEFF}\u{200B}\u{FFFF}\u{10FFFF}".to_owned(),
        "x".repeat(4096),
        "é".repeat(3000),
        format!("{}\0{}", "y".repeat(5000), "🎉".repeat(1100)),
    ]
}

/// Records whose fields are hard to keep bit for bit.
pub fn awkward_records() -> Vec<Record> {
    let signalling_nan = f64::from_bits(0x7FF0_0000_0000_0001);
    let subnormal = f64::from_bits(1);
    vec![
        Record::new(f64::NAN, Some(-0.0), Vec::new()).with_etag(Vec::new()),
        Record::new(-0.0, Some(f64::INFINITY), vec![0]).with_etag(vec![0]),
        Record::new(signalling_nan, Some(f64::NEG_INFINITY), b"abc".to_vec())
            .with_etag(b"etag".to_vec()),
        Record::new(1.7e9, None, vec![0xFF; 4096]),
        Record::new(subnormal, Some(f64::from_bits(u64::MAX)), b"v".to_vec())
            .with_etag(vec![0xFF; 64]),
        Record::new(
            SystemClock.now(),
            Some(SystemClock.now() + 3600.0),
            b"in an hour".to_vec(),
        )
        .with_etag(vec![1]),
    ]
}

/// Deterministic pseudo-random bytes, so a truncated or shifted value cannot look right.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
