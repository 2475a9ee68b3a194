//! The record a store keeps under a key, and its frozen protocol-2 encoding.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::clock::span_rounded_down;
use crate::error::{Error, Result};

/// Shared immutable bytes: cloning a [`Record`] never copies its value.
pub type Bytes = Arc<[u8]>;

/// The protocol number [`Record::encode`] writes and [`Record::decode`] accepts.
///
/// Protocol 1 (memo 0.1) had no checksum; its records decode to [`Error::Codec`], so a cache
/// written by 0.1 is a cache of misses that fill again.
pub const PROTOCOL: u8 = 2;

/// The checksum's length: an xxh3-64 of every byte before it, little-endian, at the end.
const CHECKSUM_LEN: usize = 8;

/// What a store keeps under a key: when the value was computed, when it expires, the etag it was
/// computed under and the encoded value.
///
/// Times are unix seconds as `f64`. Equality compares the times bit for bit (so a record equals
/// itself even with a NaN time), which is what "a store returns the record it was given" means.
///
/// ```
/// use memo_core::Record;
///
/// let record = Record::new(1_700_000_000.5, Some(1_700_000_060.0), vec![1, 2, 3]);
/// let mut bytes = record.encode();
/// assert_eq!(Record::decode(&bytes).unwrap(), record);
/// assert_eq!(Record::peek_expiry(&bytes).unwrap(), Some(1_700_000_060.0));
///
/// bytes[20] ^= 1; // one flipped bit anywhere: the checksum no longer matches
/// assert!(Record::decode(&bytes).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Record {
    /// When the value was computed, in unix seconds.
    pub created: f64,
    /// Absolute expiry in unix seconds; `None` never expires.
    pub expiry: Option<f64>,
    /// The etag the value was computed under, as the Memoizer writes it: its type's name and
    /// its postcard bytes, so that etags of different types never compare equal.
    pub etag: Option<Bytes>,
    /// postcard bytes of the value.
    pub value: Bytes,
}

/// The wire form, borrowed so that decoding allocates nothing beyond the copies it returns.
#[derive(Deserialize)]
struct Wire<'a> {
    protocol: u8,
    created: f64,
    expiry: Option<f64>,
    #[serde(borrow)]
    etag: Option<&'a [u8]>,
    value: &'a [u8],
}

/// Only the two leading fields, for [`Record::peek_expiry`].
#[derive(Deserialize)]
struct Head {
    protocol: u8,
    _created: f64,
    expiry: Option<f64>,
}

impl Record {
    /// A record without an etag.
    pub fn new(created: f64, expiry: Option<f64>, value: impl Into<Bytes>) -> Self {
        Record {
            created,
            expiry,
            etag: None,
            value: value.into(),
        }
    }

    /// The record with `etag` (the etag's bytes as the Memoizer writes them).
    #[must_use]
    pub fn with_etag(mut self, etag: impl Into<Bytes>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// Whether the record's stored expiry has come at `now` (unix seconds).
    pub fn is_expired(&self, now: f64) -> bool {
        self.expiry.is_some_and(|expiry| now >= expiry)
    }

    /// The time left at `now`, rounded down to the nanosecond; `None` when the record never
    /// expires, `Some(ZERO)` once it has expired.
    pub fn remaining(&self, now: f64) -> Option<Duration> {
        self.expiry.map(|expiry| span_rounded_down(now, expiry))
    }

    /// The length of [`Record::encode`]'s output, without encoding.
    pub fn encoded_len(&self) -> usize {
        let etag = self
            .etag
            .as_ref()
            .map_or(0, |e| varint_len(e.len()) + e.len());
        1 + 8
            + 1
            + self.expiry.map_or(0, |_| 8)
            + 1
            + etag
            + varint_len(self.value.len())
            + self.value.len()
            + CHECKSUM_LEN
    }

    /// The protocol-2 bytes: postcard of `(protocol, created, expiry, etag, value)`, then an
    /// xxh3-64 checksum of those bytes (8 bytes, little-endian).
    ///
    /// The layout is frozen by golden tests; changing it needs a new [`PROTOCOL`]. The expiry
    /// sits in the first bytes, so [`Record::peek_expiry`] reads it without touching the value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(PROTOCOL);
        out.extend_from_slice(&self.created.to_le_bytes());
        match self.expiry {
            None => out.push(0),
            Some(expiry) => {
                out.push(1);
                out.extend_from_slice(&expiry.to_le_bytes());
            }
        }
        match &self.etag {
            None => out.push(0),
            Some(etag) => {
                out.push(1);
                put_bytes(&mut out, etag);
            }
        }
        put_bytes(&mut out, &self.value);
        let checksum = xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Decodes [`Record::encode`]'s bytes, checking the checksum first: a record damaged
    /// anywhere (one flipped bit) is an error, never a different record.
    ///
    /// Never panics, and allocates no more than the input's length.
    ///
    /// # Errors
    /// [`Error::Codec`] for an unknown protocol (protocol 1 included), a checksum that does not
    /// match, truncated or trailing bytes, or any other malformed input.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        check_protocol(bytes)?;
        let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
            return Err(Error::codec("record shorter than its checksum"));
        };
        let (body, sum) = bytes.split_at(split);
        let mut stored = [0; CHECKSUM_LEN];
        stored.copy_from_slice(sum);
        if xxh3_64(body) != u64::from_le_bytes(stored) {
            return Err(Error::codec("record checksum mismatch (damaged record)"));
        }
        let (wire, rest) = postcard::take_from_bytes::<Wire<'_>>(body).map_err(Error::codec)?;
        if !rest.is_empty() {
            return Err(Error::codec(format!(
                "{} trailing bytes after the record",
                rest.len()
            )));
        }
        debug_assert_eq!(wire.protocol, PROTOCOL);
        Ok(Record {
            created: wire.created,
            expiry: wire.expiry,
            etag: wire.etag.map(Bytes::from),
            value: Bytes::from(wire.value),
        })
    }

    /// Reads only the expiry from encoded bytes, without touching the value or checking the
    /// checksum: what a store's compaction or purge needs. A damaged record may give a wrong
    /// expiry here, which at worst drops it early; [`Record::decode`] never serves it.
    ///
    /// # Errors
    /// [`Error::Codec`] when the head of the record is malformed or of another protocol.
    pub fn peek_expiry(bytes: &[u8]) -> Result<Option<f64>> {
        check_protocol(bytes)?;
        let (head, _) = postcard::take_from_bytes::<Head>(bytes).map_err(Error::codec)?;
        debug_assert_eq!(head.protocol, PROTOCOL);
        Ok(head.expiry)
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.created.to_bits() == other.created.to_bits()
            && self.expiry.map(f64::to_bits) == other.expiry.map(f64::to_bits)
            && self.etag == other.etag
            && self.value == other.value
    }
}

impl Eq for Record {}

fn check_protocol(bytes: &[u8]) -> Result<()> {
    match bytes.first() {
        Some(&PROTOCOL) => Ok(()),
        Some(1) => Err(Error::codec(
            "record protocol 1 (memo 0.1, no checksum) is no longer read",
        )),
        Some(&other) => Err(Error::codec(format!("unknown record protocol {other}"))),
        None => Err(Error::codec("empty record")),
    }
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len() as u64;
    // postcard's varint: 7 bits per byte, least significant first.
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}

fn varint_len(len: usize) -> usize {
    let bits = usize::BITS - len.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    /// The same five fields through serde, to prove the hand-written encoder is postcard's.
    #[derive(Serialize)]
    struct Owned<'a> {
        protocol: u8,
        created: f64,
        expiry: Option<f64>,
        etag: Option<&'a [u8]>,
        value: &'a [u8],
    }

    fn via_postcard(r: &Record) -> Vec<u8> {
        let mut bytes = postcard::to_stdvec(&Owned {
            protocol: PROTOCOL,
            created: r.created,
            expiry: r.expiry,
            etag: r.etag.as_deref(),
            value: &r.value,
        })
        .unwrap();
        let checksum = xxh3_64(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    }

    #[test]
    fn golden_bytes_without_expiry_or_etag() {
        let r = Record::new(1.5, None, vec![0xAA, 0xBB]);
        let expected = [
            0x02, // protocol
            0, 0, 0, 0, 0, 0, 0xF8, 0x3F, // created 1.5 LE
            0x00, // expiry None
            0x00, // etag None
            0x02, 0xAA, 0xBB, // value
            0x5B, 0xD4, 0xA5, 0x67, 0x84, 0xCC, 0xED, 0xF7, // xxh3-64 of the bytes above, LE
        ];
        assert_eq!(r.encode(), expected);
        assert_eq!(r.encoded_len(), expected.len());
        assert_eq!(Record::decode(&expected).unwrap(), r);
    }

    #[test]
    fn golden_bytes_with_expiry_and_etag() {
        let r = Record::new(2.0, Some(-0.0), Vec::new()).with_etag(vec![0x07]);
        let expected = [
            0x02, // protocol
            0, 0, 0, 0, 0, 0, 0, 0x40, // created 2.0
            0x01, 0, 0, 0, 0, 0, 0, 0, 0x80, // Some(-0.0)
            0x01, 0x01, 0x07, // Some([7])
            0x00, // empty value
            0xA9, 0x7D, 0xEC, 0xB4, 0xE1, 0x08, 0xF6, 0xDD, // checksum
        ];
        assert_eq!(r.encode(), expected);
        assert_eq!(Record::decode(&expected).unwrap(), r);
        assert_eq!(
            Record::peek_expiry(&expected).unwrap().map(f64::to_bits),
            Some(1 << 63)
        );
    }

    #[test]
    fn golden_varint_length_of_long_value() {
        let r = Record::new(0.0, None, vec![9; 300]);
        let bytes = r.encode();
        // 300 = 0b10_0101100 -> 0xAC 0x02
        assert_eq!(&bytes[11..13], &[0xAC, 0x02]);
        assert_eq!(bytes.len(), 13 + 300 + CHECKSUM_LEN);
        assert_eq!(r.encoded_len(), bytes.len());
    }

    #[test]
    fn encoder_matches_postcard_serde() {
        let cases = [
            Record::new(0.0, None, Vec::new()),
            Record::new(f64::NAN, Some(f64::INFINITY), vec![1; 127]).with_etag(Vec::new()),
            Record::new(-1.25, Some(1e300), vec![2; 16_384]).with_etag(vec![0; 128]),
            Record::new(1.7e9, Some(1.7e9 + 60.0), vec![255; 70_000]).with_etag(vec![3; 20_000]),
        ];
        for r in &cases {
            assert_eq!(r.encode(), via_postcard(r));
            assert_eq!(r.encoded_len(), r.encode().len());
            assert_eq!(&Record::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn unknown_protocol_is_a_codec_error() {
        let mut bytes = Record::new(1.0, None, vec![1]).encode();
        bytes[0] = 3;
        assert!(matches!(Record::decode(&bytes), Err(Error::Codec(m)) if m.contains("protocol 3")));
        assert!(matches!(Record::peek_expiry(&bytes), Err(Error::Codec(_))));
        assert!(matches!(Record::decode(&[]), Err(Error::Codec(_))));
    }

    #[test]
    fn a_protocol_1_record_is_a_codec_error() {
        // memo 0.1's golden record: postcard of the five fields, no checksum.
        let v1 = [1, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0, 0, 2, 0xAA, 0xBB];
        assert!(matches!(Record::decode(&v1), Err(Error::Codec(m)) if m.contains("protocol 1")));
    }

    #[test]
    fn every_single_bit_flip_is_a_codec_error() {
        let bytes = Record::new(1.7e9, Some(1.7e9 + 60.0), vec![0x5A; 64])
            .with_etag(vec![1, 2, 3])
            .encode();
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(Record::decode(&damaged), Err(Error::Codec(_))),
                "bit {bit} flipped still decoded"
            );
        }
    }

    #[test]
    fn truncated_and_trailing_bytes_are_codec_errors() {
        let bytes = Record::new(1.0, Some(2.0), vec![3; 10])
            .with_etag(vec![1, 2])
            .encode();
        for end in 0..bytes.len() {
            assert!(
                Record::decode(&bytes[..end]).is_err(),
                "prefix of {end} bytes decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(Record::decode(&longer), Err(Error::Codec(_))));
    }

    #[test]
    fn huge_declared_length_does_not_allocate_or_panic() {
        let mut bytes = vec![PROTOCOL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        // A valid checksum, so that the declared length itself is what decoding meets.
        let checksum = xxh3_64(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        assert!(matches!(Record::decode(&bytes), Err(Error::Codec(_))));
    }

    #[test]
    fn remaining_is_exact_far_beyond_u64_nanoseconds() {
        let r = Record::new(0.0, Some(1e12 + 0.5), Vec::new());
        let left = r.remaining(0.0).unwrap();
        assert_eq!(left, Duration::new(1_000_000_000_000, 500_000_000));
        let huge = Record::new(0.0, Some(1e300), Vec::new());
        assert_eq!(huge.remaining(0.0), Some(Duration::MAX));
        assert!(r.remaining(0.25).unwrap().as_secs_f64() <= 1e12 + 0.25);
    }

    #[test]
    fn remaining_rounds_down_and_never_goes_negative() {
        let r = Record::new(0.0, Some(10.0), Vec::new());
        assert_eq!(r.remaining(9.5), Some(Duration::from_millis(500)));
        assert_eq!(r.remaining(11.0), Some(Duration::ZERO));
        assert!(r.is_expired(10.0));
        assert!(!r.is_expired(9.999));
        let forever = Record::new(0.0, None, Vec::new());
        assert_eq!(forever.remaining(1e12), None);
        assert!(!forever.is_expired(f64::MAX));
    }
}
