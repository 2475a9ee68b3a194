//! The write queue: records set but not yet committed, readable by `get`, and the journal
//! entries not yet written.
//!
//! Committing each write alone costs a redb transaction; queueing them and committing many in
//! one transaction is what makes misses cheap. Under journaled durability every queued write is
//! also in the journal before `set` returns; under queued durability a crash loses the queue
//! exactly as it loses non-durable commits.

use std::collections::HashMap;
use std::sync::Arc;

use memo_core::Record;

/// The queue holds at most this many writes before the writer commits it itself.
pub(crate) const MAX_WRITES: usize = 1024;
/// ... and at most this many bytes of values.
pub(crate) const MAX_BYTES: usize = 8 << 20;
/// While commits fail their writes are queued again; past this many times the usual limits,
/// `set` refuses new writes rather than hold them all in memory.
const REFUSE_FACTOR: usize = 4;

/// Writes in the order they were made; later writes of a key replace earlier ones.
#[derive(Clone, Default)]
pub(crate) struct Batch {
    pub(crate) writes: Vec<(String, Record)>,
    latest: HashMap<String, usize>,
    bytes: usize,
}

impl Batch {
    pub(crate) fn push(&mut self, key: &str, record: Record) {
        self.push_owned(key.to_owned(), record);
    }

    fn push_owned(&mut self, key: String, record: Record) {
        self.bytes += key.len() + record.value.len() + record.etag.as_ref().map_or(0, |e| e.len());
        self.latest.insert(key.clone(), self.writes.len());
        self.writes.push((key, record));
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

/// The queue: writes being gathered, the batch being committed (still readable until its
/// commit is done), and the journal entries of both not yet written.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) open: Batch,
    pub(crate) committing: Option<Arc<Batch>>,
    /// Encoded journal entries waiting for a writer to write them.
    pub(crate) journal: Vec<u8>,
    /// The number of the last entry appended to `journal`; entries are numbered from 1.
    pub(crate) appended: u64,
}

impl Queue {
    /// Appends a journal entry; returns its number.
    pub(crate) fn append(&mut self, op: u8, key: &str, expiry: u64, record: &[u8]) -> u64 {
        crate::journal::encode(&mut self.journal, op, key, expiry, record);
        self.appended += 1;
        self.appended
    }

    /// Puts the writes of a batch whose commit failed back before the writes made since.
    pub(crate) fn requeue(&mut self, batch: Batch) {
        let newer = std::mem::replace(&mut self.open, batch);
        for (key, record) in newer.writes {
            self.open.push_owned(key, record);
        }
    }

    /// Whether failing commits have queued so much that new writes are refused.
    pub(crate) fn refuses(&self) -> bool {
        self.open.len() >= REFUSE_FACTOR * MAX_WRITES
            || self.open.bytes >= REFUSE_FACTOR * MAX_BYTES
    }

    pub(crate) fn get(&self, key: &str) -> Option<Record> {
        self.open
            .get(key)
            .or_else(|| self.committing.as_deref().and_then(|b| b.get(key)))
            .cloned()
    }
}
