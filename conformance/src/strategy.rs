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

/// Any record: every field free, values up to 4 KiB.
pub(crate) fn record() -> impl Strategy<Value = Record> {
    (
        time(),
        prop::option::of(time()),
        prop::option::of(bytes(64)),
        prop_oneof![4 => bytes(64), 1 => bytes(4096)],
    )
        .prop_map(|(created, expiry, etag, value)| {
            let record = Record::new(created, expiry, value);
            match etag {
                Some(etag) => record.with_etag(etag),
                None => record,
            }
        })
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
        6 => vec(key_char(), 0..24).prop_map(String::from_iter),
        1 => (vec(key_char(), 0..8), 4096..5000_usize).prop_map(|(tail, len)| {
            let mut key = "k".repeat(len);
            key.extend(tail);
            key
        }),
    ]
}
