//! The compaction filter that reclaims expired records.
//!
//! RocksDB calls it from its compaction threads through C, where a panic aborts the process, so
//! deciding never panics: it only reads the record's head with [`Record::peek_expiry`] (no value
//! decoding, no checksum), treats a head that does not parse as "keep", and catches any panic.

use std::ffi::{CStr, CString};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memo_core::{Clock, Record, SystemClock};
use rocksdb::compaction_filter::{CompactionFilter, Decision};
use rocksdb::compaction_filter_factory::{CompactionFilterContext, CompactionFilterFactory};

/// State shared between the store and the filters RocksDB creates.
#[derive(Debug)]
pub(crate) struct Expiry {
    /// The cutoff of the running `purge_expired` (f64 bits); manual compactions use it.
    purge_cutoff: AtomicU64,
    /// Records removed by manual compactions (the purges), in total.
    purged: AtomicU64,
    /// Records removed by RocksDB's own compactions, with the system clock, in total.
    reclaimed: AtomicU64,
}

impl Expiry {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Expiry {
            purge_cutoff: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            purged: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
        })
    }

    /// Sets the cutoff the next manual compactions use.
    pub(crate) fn set_purge_cutoff(&self, now: f64) {
        self.purge_cutoff.store(now.to_bits(), Ordering::SeqCst);
    }

    pub(crate) fn purged(&self) -> u64 {
        self.purged.load(Ordering::SeqCst)
    }

    pub(crate) fn reclaimed(&self) -> u64 {
        self.reclaimed.load(Ordering::SeqCst)
    }
}

/// Whether the encoded record `value` has expired at `now`: its head parses and its expiry is
/// at or before `now` (as [`Record::is_expired`]). Anything unreadable is kept.
pub(crate) fn expired(value: &[u8], now: f64) -> bool {
    matches!(Record::peek_expiry(value), Ok(Some(expiry)) if now >= expiry)
}

/// Makes one [`Filter`] per compaction: manual ones (a purge) cut at the purge's time, RocksDB's
/// own at the system clock's time when the compaction starts.
pub(crate) struct Factory {
    pub(crate) expiry: Arc<Expiry>,
    pub(crate) name: CString,
}

impl CompactionFilterFactory for Factory {
    type Filter = Filter;

    fn create(&mut self, context: CompactionFilterContext) -> Filter {
        let (cutoff, counter) = if context.is_manual_compaction {
            let bits = self.expiry.purge_cutoff.load(Ordering::SeqCst);
            (f64::from_bits(bits), Counter::Purged)
        } else {
            (SystemClock.now(), Counter::Reclaimed)
        };
        Filter {
            expiry: self.expiry.clone(),
            cutoff,
            counter,
            name: self.name.clone(),
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}

enum Counter {
    Purged,
    Reclaimed,
}

pub(crate) struct Filter {
    expiry: Arc<Expiry>,
    cutoff: f64,
    counter: Counter,
    name: CString,
}

impl CompactionFilter for Filter {
    fn filter(&mut self, _level: u32, _key: &[u8], value: &[u8]) -> Decision {
        let cutoff = self.cutoff;
        if catch_unwind(AssertUnwindSafe(|| expired(value, cutoff))).unwrap_or(false) {
            let counter = match self.counter {
                Counter::Purged => &self.expiry.purged,
                Counter::Reclaimed => &self.expiry.reclaimed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            Decision::Remove
        } else {
            Decision::Keep
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn expired_follows_record_is_expired() {
        let now = 1_700_000_000.0;
        for expiry in [
            None,
            Some(now - 1.0),
            Some(now),
            Some(now + 1e-3),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
        ] {
            let record = Record::new(now, expiry, vec![7; 40]).with_etag(vec![1, 2]);
            assert_eq!(
                expired(&record.encode(), now),
                record.is_expired(now),
                "expiry {expiry:?}"
            );
        }
    }

    #[test]
    fn an_unreadable_head_is_kept() {
        let mut record = Record::new(1.0, Some(2.0), vec![1]).encode();
        assert!(expired(&record, 3.0));
        record[0] = 1; // protocol 1
        assert!(!expired(&record, 3.0));
        assert!(!expired(&[], 3.0));
        assert!(!expired(&[2], 3.0));
        assert!(!expired(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 9], 3.0));
    }

    /// Any bytes, and bytes that start like a protocol-2 record.
    fn any_value() -> impl Strategy<Value = Vec<u8>> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            bytes.clone(),
            bytes.prop_map(|mut v| {
                v.insert(0, memo_core::record::PROTOCOL);
                v
            }),
        ]
    }

    proptest! {
        #[test]
        fn the_filter_decides_on_any_bytes_without_panicking(
            bytes in any_value(),
            cutoff in any::<f64>(),
        ) {
            let mut filter = Filter {
                expiry: Expiry::new(),
                cutoff,
                counter: Counter::Purged,
                name: CString::new("t").unwrap(),
            };
            let removed = matches!(filter.filter(0, b"k", &bytes), Decision::Remove);
            let by_head = matches!(Record::peek_expiry(&bytes), Ok(Some(e)) if cutoff >= e);
            prop_assert_eq!(removed, by_head);
            prop_assert_eq!(filter.expiry.purged(), u64::from(removed));
        }
    }
}
