//! The model a store is compared with: what it should hold after a sequence of operations.
//!
//! [`random_operations_match_a_model`](crate::properties::random_operations_match_a_model)
//! runs random [`Op`] sequences ([`ops`]) on the store and on a [`Model`], step by step through
//! [`apply`]. A property of an author's own can keep a [`Model`] beside the store the same way,
//! and compare the two with [`Model::check`] whenever it likes.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;

use memo_core::{Record, Store};

use crate::Fixture;
use crate::check::{Case, Rules, call, check_read, check_ttl, fail, now, show_key, show_record};
use crate::strategy::record;

/// What a store should hold: the last record set under each key, or `None` for a key deleted
/// since (or never set).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    records: BTreeMap<String, Option<Record>>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// `set(key, record)`.
    pub fn set(&mut self, key: &str, record: Record) {
        self.records.insert(key.to_owned(), Some(record));
    }

    /// `delete(key)`: the record it held, if any.
    pub fn delete(&mut self, key: &str) -> Option<Record> {
        self.records.insert(key.to_owned(), None).flatten()
    }

    /// The record `key` should hold.
    pub fn get(&self, key: &str) -> Option<&Record> {
        self.records.get(key).and_then(Option::as_ref)
    }

    /// How many keys hold a record.
    pub fn len(&self) -> usize {
        self.records.values().filter(|r| r.is_some()).count()
    }

    /// Whether no key holds a record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads every key the model has seen from `store` and checks it with [`check_read`]: a
    /// deleted key must find nothing, a set one its last record (or nothing, as `rules` allow).
    ///
    /// # Errors
    /// A failed case for the first key that differs.
    pub fn check(&self, store: &dyn Store, rules: Rules) -> Case {
        for (key, expected) in &self.records {
            let got = call("get", store.get(key))?;
            check_read(key, got.as_ref(), expected.as_ref(), rules)?;
        }
        Ok(())
    }
}

/// One operation of a sequence, on the key at an index of the sequence's key list.
#[derive(Clone, Debug)]
pub enum Op {
    /// `set(keys[i], record)`.
    Set(usize, Record),
    /// `get(keys[i])`.
    Get(usize),
    /// `delete(keys[i])`.
    Delete(usize),
    /// `ttl(keys[i])`.
    Ttl(usize),
    /// Drop every handle and open the store again (persistent harnesses).
    Reopen,
}

/// The small key space of the model property: prefixes of each other, and one long key.
pub fn model_keys() -> Vec<String> {
    vec![
        String::new(),
        "k".to_owned(),
        "k:\0".to_owned(),
        "ü".repeat(2100),
    ]
}

/// Random sequences of 1 to 47 operations over `keys` keys; [`Op::Reopen`] only when `reopen`.
pub fn ops(keys: usize, reopen: bool) -> impl Strategy<Value = Vec<Op>> {
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

/// Applies `op` to the store of `fixture` and to `model`, and checks the store's answer
/// against the model's.
///
/// # Errors
/// A failed case when the answers differ, or a reopen fails.
pub fn apply(
    fixture: &mut Fixture,
    rules: Rules,
    model: &mut Model,
    keys: &[String],
    op: &Op,
) -> Case {
    if let Op::Reopen = op {
        return fixture.reopen().map_err(fail);
    }
    let store = fixture.store();
    match op {
        Op::Set(k, record) => {
            call("set", store.set(&keys[*k], record.clone()))?;
            model.set(&keys[*k], record.clone());
        }
        Op::Get(k) => {
            let got = call("get", store.get(&keys[*k]))?;
            check_read(&keys[*k], got.as_ref(), model.get(&keys[*k]), rules)?;
        }
        Op::Delete(k) => {
            let deleted = call("delete", store.delete(&keys[*k]))?;
            match (deleted, model.delete(&keys[*k])) {
                (true, Some(_)) | (false, None) => {}
                (false, Some(record)) if rules.may_vanish(&record, now()) => {}
                (deleted, expected) => {
                    return Err(fail(format!(
                        "delete({}) returned {deleted} where the model holds {}",
                        show_key(&keys[*k]),
                        show_record(expected.as_ref())
                    )));
                }
            }
        }
        Op::Ttl(k) => {
            let before = now();
            let ttl = call("ttl", store.ttl(&keys[*k]))?;
            check_ttl(&keys[*k], ttl, model.get(&keys[*k]), before, now(), rules)?;
        }
        Op::Reopen => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_forgets_deleted_records_and_counts_live_ones() {
        let mut model = Model::new();
        model.set("a", Record::new(1.0, None, vec![1]));
        model.set("b", Record::new(2.0, None, vec![2]));
        assert_eq!(model.delete("a").map(|r| r.created), Some(1.0));
        assert_eq!(model.delete("a"), None);
        assert_eq!((model.len(), model.get("a")), (1, None));
        assert_eq!(model.get("b").map(|r| r.created), Some(2.0));
    }
}
