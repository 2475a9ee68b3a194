//! Values to and from their postcard bytes, with a fast path for byte vectors.
//!
//! serde sees a `Vec<u8>` as a sequence and postcard walks it one byte at a time: about fifty
//! instructions a byte, which dominated a cache hit. postcard's bytes for a `Vec<u8>` are its
//! varint length and the bytes themselves, so for that one type we read and write them
//! directly; the output is identical (pinned by the tests below).

use std::any::{Any, TypeId};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub(crate) fn encode<T: Serialize + 'static>(value: &T) -> Result<Vec<u8>> {
    if let Some(bytes) = (value as &dyn Any).downcast_ref::<Vec<u8>>() {
        let mut out = Vec::with_capacity(bytes.len() + 10);
        crate::record::put_bytes(&mut out, bytes);
        return Ok(out);
    }
    postcard::to_allocvec(value).map_err(|e| Error::Codec(e.to_string()))
}

#[inline(always)]
pub(crate) fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T> {
    if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        let mut slot = Some(decode_byte_vec(bytes)?);
        if let Some(value) = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
        {
            return Ok(value);
        }
    }
    postcard::from_bytes(bytes).map_err(|e| Error::Codec(e.to_string()))
}

/// postcard's `Vec<u8>`: a varint length (at most ten bytes) and that many bytes; anything
/// after them is ignored, as `postcard::from_bytes` ignores it.
#[inline(always)]
fn decode_byte_vec(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut len: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7F);
        if i == 9 && byte > 1 {
            break;
        }
        len |= bits << (7 * i);
        if byte & 0x80 == 0 {
            let rest = &bytes[i + 1..];
            return match usize::try_from(len) {
                Ok(len) if len <= rest.len() => Ok(rest[..len].to_vec()),
                _ => Err(Error::Codec(
                    "Hit the end of buffer, expected more data".into(),
                )),
            };
        }
    }
    Err(Error::Codec(
        if bytes.len() < 10 && bytes.last().is_none_or(|b| b & 0x80 != 0) {
            "Hit the end of buffer, expected more data".into()
        } else {
            "Found a varint that didn't terminate. Is the usize too big for this platform?".into()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow_encode(v: &Vec<u8>) -> Vec<u8> {
        postcard::to_allocvec(v).unwrap()
    }

    #[test]
    fn byte_vectors_encode_as_postcard_does() {
        for len in [0, 1, 63, 64, 127, 128, 300, 16_384, 70_000] {
            let v: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            assert_eq!(encode(&v).unwrap(), slow_encode(&v), "len {len}");
            assert_eq!(decode::<Vec<u8>>(&encode(&v).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn byte_vectors_decode_as_postcard_does_on_any_input() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x80],
            vec![0x05, 1, 2],
            vec![0x02, 1, 2, 3, 4],
            vec![0xFF; 9],
            vec![0xFF; 10],
            vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            vec![0x80, 0x00],
            vec![0x81, 0x00, 0x09],
        ];
        // Every short input of a few shapes.
        for a in [0x00_u8, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFF] {
            for b in [0x00_u8, 0x01, 0x80, 0xFF] {
                inputs.push(vec![a, b]);
                inputs.push(vec![a, b, 0x33]);
            }
        }
        for input in &inputs {
            let fast = decode::<Vec<u8>>(input).ok();
            let slow = postcard::from_bytes::<Vec<u8>>(input).ok();
            assert_eq!(fast, slow, "input {input:02x?}");
        }
    }

    #[test]
    fn other_types_take_the_serde_path() {
        let v = (1_u8, String::from("x"), vec![1_u16, 2]);
        assert_eq!(encode(&v).unwrap(), postcard::to_allocvec(&v).unwrap());
        assert_eq!(
            decode::<(u8, String, Vec<u16>)>(&encode(&v).unwrap()).unwrap(),
            v
        );
        assert!(matches!(
            decode::<String>(&[0x05, b'a']),
            Err(Error::Codec(_))
        ));
    }
}
