//! The key writer: turns arguments into readable, deterministic, injective key text.
//!
//! Rendering is driven by serde, so every `Serialize` type works. The text looks like Rust's
//! `Debug` output (`"text"`, `Some(3)`, `Point { x: 1, y: 2 }`, `[1, 2]`) but, unlike `Debug`, it
//! is stable across processes and runs: no addresses, no hasher seeds. Map entries are sorted,
//! so a `HashMap` gives one key whatever its iteration order. A `HashSet` serializes as a plain
//! sequence, which serde cannot tell from a `Vec`; wrap it in [`Unordered`] (the `#[memoize]`
//! attribute does so for arguments whose type is written `HashSet<..>`).
//!
//! Two different values of one type never render the same text, with one exception: every NaN
//! renders as `NaN`.
//!
//! ```
//! use std::collections::HashMap;
//! use memo_core::key::{KeyBuilder, to_key};
//!
//! let mut key = KeyBuilder::new("app::price");
//! key.arg(&"apple").unwrap().arg(&Some(3_u8)).unwrap();
//! assert_eq!(key.finish(), r#"app::price("apple", Some(3))"#);
//!
//! let map: HashMap<&str, u8> = [("b", 2), ("a", 1)].into();
//! assert_eq!(to_key(&map).unwrap(), r#"{"a": 1, "b": 2}"#);
//! ```

use std::fmt::Write as _;

use serde::ser::{self, Serialize};

use crate::error::{Error, Result};

/// Renders `value` as key text.
///
/// # Errors
/// [`Error::Codec`] when the value's `Serialize` implementation fails.
pub fn to_key<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut out = String::new();
    write_key(&mut out, value)?;
    Ok(out)
}

/// Appends `value`'s key text to `out`.
///
/// # Errors
/// [`Error::Codec`] when the value's `Serialize` implementation fails.
pub fn write_key<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<()> {
    value
        .serialize(KeyWriter { out })
        .map_err(|e| Error::Codec(e.0))
}

/// Builds `name(arg, arg, ...)`, the key of one call.
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    buf: String,
    args: usize,
}

impl KeyBuilder {
    /// Starts the key of a call to `name` (usually `module::path::function`).
    pub fn new(name: &str) -> Self {
        let mut buf = String::with_capacity(name.len() + 32);
        buf.push_str(name);
        buf.push('(');
        KeyBuilder { buf, args: 0 }
    }

    /// Appends one argument.
    ///
    /// # Errors
    /// [`Error::Codec`] when the argument's `Serialize` implementation fails.
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<&mut Self> {
        if self.args > 0 {
            self.buf.push_str(", ");
        }
        self.args += 1;
        write_key(&mut self.buf, value)?;
        Ok(self)
    }

    /// The finished key.
    pub fn finish(mut self) -> String {
        self.buf.push(')');
        self.buf
    }
}

/// Renders a collection whose iteration order means nothing (a `HashSet`) as a sequence sorted
/// by each item's key text.
///
/// ```
/// use std::collections::HashSet;
/// use memo_core::key::{Unordered, to_key};
///
/// let set: HashSet<u32> = [3, 1, 2].into();
/// assert_eq!(to_key(&Unordered(&set)).unwrap(), "[1, 2, 3]");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Unordered<'a, C: ?Sized>(pub &'a C);

impl<C> Serialize for Unordered<'_, C>
where
    C: ?Sized,
    for<'b> &'b C: IntoIterator,
    for<'b> <&'b C as IntoIterator>::Item: Serialize,
{
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut items = Vec::new();
        for item in self.0 {
            let text = to_key(&item).map_err(ser::Error::custom)?;
            items.push((text, item));
        }
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        serializer.collect_seq(items.iter().map(|(_, item)| item))
    }
}

/// The writer's error: the message of a failing `Serialize` implementation.
#[derive(Debug)]
pub struct KeyError(String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        KeyError(msg.to_string())
    }
}

type KeyResult = std::result::Result<(), KeyError>;

struct KeyWriter<'a> {
    out: &'a mut String,
}

impl KeyWriter<'_> {
    fn put(self, text: impl std::fmt::Display) -> KeyResult {
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{text}");
        Ok(())
    }

    fn float(self, v: f64) -> KeyResult {
        if v.is_nan() {
            self.put("NaN")
        } else {
            self.put(format_args!("{v:?}"))
        }
    }
}

/// Sequences, tuples and their named kinds: items separated by `, ` inside a closing delimiter.
struct SeqWriter<'a> {
    out: &'a mut String,
    first: bool,
    close: &'static str,
}

impl SeqWriter<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        value.serialize(KeyWriter { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> KeyResult {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        self.out.push_str(name);
        self.out.push_str(": ");
        value.serialize(KeyWriter { out: self.out })
    }

    fn close(self) -> KeyResult {
        self.out.push_str(self.close);
        Ok(())
    }
}

/// Maps: entries rendered apart, then sorted, so iteration order does not matter.
struct MapWriter<'a> {
    out: &'a mut String,
    entries: Vec<String>,
    pending: String,
}

impl<'a> ser::Serializer for KeyWriter<'a> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = SeqWriter<'a>;
    type SerializeTuple = SeqWriter<'a>;
    type SerializeTupleStruct = SeqWriter<'a>;
    type SerializeTupleVariant = SeqWriter<'a>;
    type SerializeMap = MapWriter<'a>;
    type SerializeStruct = SeqWriter<'a>;
    type SerializeStructVariant = SeqWriter<'a>;

    fn serialize_bool(self, v: bool) -> KeyResult {
        self.put(v)
    }
    fn serialize_i8(self, v: i8) -> KeyResult {
        self.put(v)
    }
    fn serialize_i16(self, v: i16) -> KeyResult {
        self.put(v)
    }
    fn serialize_i32(self, v: i32) -> KeyResult {
        self.put(v)
    }
    fn serialize_i64(self, v: i64) -> KeyResult {
        self.put(v)
    }
    fn serialize_i128(self, v: i128) -> KeyResult {
        self.put(v)
    }
    fn serialize_u8(self, v: u8) -> KeyResult {
        self.put(v)
    }
    fn serialize_u16(self, v: u16) -> KeyResult {
        self.put(v)
    }
    fn serialize_u32(self, v: u32) -> KeyResult {
        self.put(v)
    }
    fn serialize_u64(self, v: u64) -> KeyResult {
        self.put(v)
    }
    fn serialize_u128(self, v: u128) -> KeyResult {
        self.put(v)
    }
    fn serialize_f32(self, v: f32) -> KeyResult {
        if v.is_nan() {
            self.put("NaN")
        } else {
            self.put(format_args!("{v:?}"))
        }
    }
    fn serialize_f64(self, v: f64) -> KeyResult {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> KeyResult {
        self.put(format_args!("{v:?}"))
    }
    fn serialize_str(self, v: &str) -> KeyResult {
        // Debug escapes nothing in printable ASCII but `"` and `\`: copy such text directly.
        if v.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            self.out.reserve(v.len() + 2);
            self.out.push('"');
            self.out.push_str(v);
            self.out.push('"');
            return Ok(());
        }
        self.put(format_args!("{v:?}"))
    }
    fn serialize_bytes(self, v: &[u8]) -> KeyResult {
        self.put(format_args!("b\"{}\"", v.escape_ascii()))
    }
    fn serialize_none(self) -> KeyResult {
        self.put("None")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> KeyResult {
        self.out.push_str("Some(");
        value.serialize(KeyWriter { out: self.out })?;
        self.out.push(')');
        Ok(())
    }
    fn serialize_unit(self) -> KeyResult {
        self.put("()")
    }
    fn serialize_unit_struct(self, name: &'static str) -> KeyResult {
        self.put(name)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> KeyResult {
        self.put(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> KeyResult {
        self.out.push_str(name);
        self.out.push('(');
        value.serialize(KeyWriter { out: self.out })?;
        self.out.push(')');
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> KeyResult {
        self.serialize_newtype_struct(if variant.is_empty() { name } else { variant }, value)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.out.push('[');
        Ok(SeqWriter {
            out: self.out,
            first: true,
            close: "]",
        })
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.out.push('(');
        Ok(SeqWriter {
            out: self.out,
            first: true,
            close: ")",
        })
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.out.push_str(name);
        self.serialize_tuple(0)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.out.push_str(variant);
        self.serialize_tuple(0)
    }
    fn serialize_map(self, len: Option<usize>) -> std::result::Result<MapWriter<'a>, KeyError> {
        Ok(MapWriter {
            out: self.out,
            entries: Vec::with_capacity(len.unwrap_or(0)),
            pending: String::new(),
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.out.push_str(name);
        self.out.push_str(" { ");
        Ok(SeqWriter {
            out: self.out,
            first: true,
            close: " }",
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> std::result::Result<SeqWriter<'a>, KeyError> {
        self.serialize_struct(variant, len)
    }
}

impl ser::SerializeSeq for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        self.item(value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeTuple for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        self.item(value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeTupleStruct for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        self.item(value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeTupleVariant for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        self.item(value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeStruct for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> KeyResult {
        self.field(name, value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeStructVariant for SeqWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> KeyResult {
        self.field(name, value)
    }
    fn end(self) -> KeyResult {
        self.close()
    }
}

impl ser::SerializeMap for MapWriter<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> KeyResult {
        self.pending.clear();
        key.serialize(KeyWriter {
            out: &mut self.pending,
        })?;
        self.pending.push_str(": ");
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> KeyResult {
        value.serialize(KeyWriter {
            out: &mut self.pending,
        })?;
        self.entries.push(std::mem::take(&mut self.pending));
        Ok(())
    }
    fn end(mut self) -> KeyResult {
        self.entries.sort_unstable();
        self.out.push('{');
        self.out.push_str(&self.entries.join(", "));
        self.out.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::{BTreeMap, HashMap, HashSet};

    #[derive(Serialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect { w: u8, h: u8 },
        Pair(u8, u8),
    }

    #[test]
    fn renders_readable_text() {
        assert_eq!(to_key(&"a\"b").unwrap(), r#""a\"b""#);
        assert_eq!(to_key(&'x').unwrap(), "'x'");
        assert_eq!(to_key(&-0.0_f64).unwrap(), "-0.0");
        assert_eq!(to_key(&1.0_f64).unwrap(), "1.0");
        assert_eq!(
            to_key(&Point { x: 1, y: -2 }).unwrap(),
            "Point { x: 1, y: -2 }"
        );
        assert_eq!(to_key(&Shape::Dot).unwrap(), "Dot");
        assert_eq!(to_key(&Shape::Circle(0.5)).unwrap(), "Circle(0.5)");
        assert_eq!(
            to_key(&Shape::Rect { w: 1, h: 2 }).unwrap(),
            "Rect { w: 1, h: 2 }"
        );
        assert_eq!(to_key(&Shape::Pair(1, 2)).unwrap(), "Pair(1, 2)");
        assert_eq!(to_key(&(1, "a", ())).unwrap(), r#"(1, "a", ())"#);
        assert_eq!(to_key(&vec![Some(1), None]).unwrap(), "[Some(1), None]");
        assert_eq!(to_key(&f64::NAN).unwrap(), "NaN");
    }

    #[test]
    fn maps_render_sorted_whatever_the_iteration_order() {
        let mut forward = HashMap::new();
        let mut backward = HashMap::new();
        for i in 0..100 {
            forward.insert(i, i * 2);
        }
        for i in (0..100).rev() {
            backward.insert(i, i * 2);
        }
        let sorted: BTreeMap<String, i32> =
            (0..100).map(|i| (to_key(&i).unwrap(), i * 2)).collect();
        assert_eq!(to_key(&forward).unwrap(), to_key(&backward).unwrap());
        assert_eq!(
            to_key(&forward).unwrap().len(),
            to_key(&sorted).unwrap().len() - 200
        );
    }

    #[test]
    fn unordered_sets_render_sorted() {
        let a: HashSet<String> = (0..50).map(|i| format!("v{i}")).collect();
        let b: HashSet<String> = (0..50).rev().map(|i| format!("v{i}")).collect();
        assert_eq!(
            to_key(&Unordered(&a)).unwrap(),
            to_key(&Unordered(&b)).unwrap()
        );
        assert!(
            to_key(&Unordered(&a))
                .unwrap()
                .starts_with(r#"["v0", "v1", "v10""#)
        );
    }

    #[test]
    fn distinct_arguments_give_distinct_keys() {
        let keys = [
            KeyBuilder::new("f").arg(&"a, b").unwrap().clone().finish(),
            {
                let mut k = KeyBuilder::new("f");
                k.arg(&"a").unwrap().arg(&"b").unwrap();
                k.finish()
            },
            KeyBuilder::new("f")
                .arg(&"a\", \"b")
                .unwrap()
                .clone()
                .finish(),
            KeyBuilder::new("f")
                .arg(&b"a, b".as_slice())
                .unwrap()
                .clone()
                .finish(),
            KeyBuilder::new("f")
                .arg(&Some(""))
                .unwrap()
                .clone()
                .finish(),
            KeyBuilder::new("f")
                .arg(&None::<&str>)
                .unwrap()
                .clone()
                .finish(),
            KeyBuilder::new("f").arg(&"").unwrap().clone().finish(),
            KeyBuilder::new("f").finish(),
        ];
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:#?}");
    }

    #[test]
    fn plain_ascii_fast_path_matches_debug() {
        let mut samples: Vec<String> = (0_u8..=127).map(|b| format!("a{}b", b as char)).collect();
        samples.extend(
            [
                "",
                "plain text",
                "é",
                "tab\there",
                "quote\"",
                "back\\slash",
                "\u{7f}",
            ]
            .map(String::from),
        );
        for s in &samples {
            assert_eq!(to_key(s).unwrap(), format!("{s:?}"), "{s:?}");
        }
    }

    #[test]
    fn serialize_failure_is_a_codec_error() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: ser::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
                Err(ser::Error::custom("no key for this"))
            }
        }
        assert!(matches!(to_key(&Fails), Err(Error::Codec(m)) if m == "no key for this"));
    }
}
