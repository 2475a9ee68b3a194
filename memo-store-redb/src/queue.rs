//! The write queue of batched durability: records set but not yet committed, readable by `get`.
//!
//! Committing each write alone costs a redb transaction; queueing them and committing many in
//! one transaction (group commit) is what makes misses cheap. A crash loses the queue exactly as
//! it loses non-durable commits, so queueing does not widen the loss window.

use std::collections::HashMap;
use std::sync::Arc;

use memo_core::Record;

/// The queue holds at most this many writes before the writer commits it itself.
pub(crate) const MAX_WRITES: usize = 1024;
/// ... and at most this many bytes of values.
pub(crate) const MAX_BYTES: usize = 8 << 20;

/// Writes in the order they were made; later writes of a key replace earlier ones.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) writes: Vec<(String, Record)>,
    latest: HashMap<String, usize>,
    bytes: usize,
}

impl Batch {
    pub(crate) fn push(&mut self, key: &str, record: Record) {
        self.bytes += key.len() + record.value.len() + record.etag.as_ref().map_or(0, |e| e.len());
        self.latest.insert(key.to_owned(), self.writes.len());
        self.writes.push((key.to_owned(), record));
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Record> {
        self.latest.get(key).map(|&at| &self.writes[at].1)
    }

    pub(crate) fn len(&self) -> usize {
        self.writes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.writes.len() >= MAX_WRITES || self.bytes >= MAX_BYTES
    }
}

/// The queue: writes being gathered, and the batch being committed (still readable until its
/// commit is done).
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) open: Batch,
    pub(crate) committing: Option<Arc<Batch>>,
}

impl Queue {
    pub(crate) fn get(&self, key: &str) -> Option<Record> {
        self.open
            .get(key)
            .or_else(|| self.committing.as_deref().and_then(|b| b.get(key)))
            .cloned()
    }
}
