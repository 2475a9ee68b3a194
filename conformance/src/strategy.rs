//! Random keys and records for the properties.

use proptest::collection::vec;
use proptest::prelude::*;

use memo_core::Record;

/// Any `f64` bit pattern, with the awkward ones (NaN, ±0, ±inf) made likely.
pub(crate) fn time() -> impl Strategy<Value = f64> {
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

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn assemble(created: f64, expiry: Option<f64>, etag: Option<Vec<u8>>, value: Vec<u8>) -> Record {
    let record = Record::new(created, expiry, value);
    match etag {
        Some(etag) => record.with_etag(etag),
        None => record,
    }
}

/// Any record: every field free, values up to 4 KiB.
pub(crate) fn record() -> impl Strategy<Value = Record> {
    record_expiring(prop::option::of(time()))
}

/// A record whose expiry comes from `expiry`, the other fields free.
pub(crate) fn record_expiring(
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
fn key_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range('a', 'e'),
        1 => Just(':'),
        1 => Just('\0'),
        2 => any::<char>(),
    ]
}

/// Any string key: empty, short, or longer than 4 KiB.
pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => short_key(24),
        1 => long_key(),
    ]
}

/// A key of at most `max` characters.
pub(crate) fn short_key(max: usize) -> impl Strategy<Value = String> {
    vec(key_char(), 0..=max).prop_map(String::from_iter)
}

/// A key of more than 4 KiB.
pub(crate) fn long_key() -> impl Strategy<Value = String> {
    (vec(key_char(), 0..8), 4096..5000_usize).prop_map(|(tail, len)| {
        let mut key = "k".repeat(len);
        key.extend(tail);
        key
    })
}

/// A key from a small alphabet, so that random prefixes often match.
pub(crate) fn narrow_key(max: usize) -> impl Strategy<Value = String> {
    vec(
        prop::sample::select(vec!['a', 'b', ':', '\0', 'é', '*', '[']),
        0..=max,
    )
    .prop_map(String::from_iter)
}

/// Keys that hard stores get wrong: empty, long, separators, NUL, every plane of Unicode.
pub(crate) fn awkward_keys() -> Vec<String> {
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

/// One operation of the model-based sequence test.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Set(usize, Record),
    Get(usize),
    Delete(usize),
    Ttl(usize),
    Reopen,
}

/// The small key space of the sequence test: prefixes of each other, and one long key.
pub(crate) fn model_keys() -> Vec<String> {
    vec![
        String::new(),
        "k".to_owned(),
        "k:\0".to_owned(),
        "ü".repeat(2100),
    ]
}

/// Random operation sequences over [`model_keys`]; `reopen` steps only when asked.
pub(crate) fn ops(reopen: bool) -> impl Strategy<Value = Vec<Op>> {
    let keys = model_keys().len();
    let op = prop_oneof![
        5 => (0..keys, record()).prop_map(|(k, r)| Op::Set(k, r)),
        4 => (0..keys).prop_map(Op::Get),
        2 => (0..keys).prop_map(Op::Delete),
        1 => (0..keys).prop_map(Op::Ttl),
        1 => Just(Op::Reopen),
    ]
    // A union cannot weigh an option 0, so volatile stores read where a reopen would be.
    .prop_map(move |op| match op {
        Op::Reopen if !reopen => Op::Get(0),
        op => op,
    });
    vec(op, 1..48)
}
