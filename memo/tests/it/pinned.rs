//! Keys and refactors: the default key names the module, so a function that moves or is renamed
//! keys apart from its old records; `key = "..."` pins the name instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, Store};

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

static SHARED: Fixture = LazyLock::new(memoizer);
static OLD_RUNS: AtomicUsize = AtomicUsize::new(0);
static NEW_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Where the function used to live, under its old name.
mod billing {
    use super::{OLD_RUNS, Ordering, SHARED};

    #[memo::memoize(SHARED.0, key = "billing::invoice_total", namespace = "v1")]
    pub(super) fn invoice_total(id: u32) -> u64 {
        OLD_RUNS.fetch_add(1, Ordering::SeqCst);
        u64::from(id) * 100
    }

    #[memo::memoize(SHARED.0, namespace = "v1")]
    pub(super) fn unpinned(id: u32) -> u64 {
        u64::from(id)
    }
}

/// Where it lives after the refactor, renamed.
mod accounts {
    pub(super) mod invoices {
        use crate::pinned::{NEW_RUNS, Ordering, SHARED};

        #[memo::memoize(SHARED.0, key = "billing::invoice_total", namespace = "v1")]
        pub(crate) fn total(id: u32) -> u64 {
            NEW_RUNS.fetch_add(1, Ordering::SeqCst);
            u64::from(id) * 100
        }

        #[memo::memoize(SHARED.0, namespace = "v1")]
        pub(crate) fn unpinned(id: u32) -> u64 {
            u64::from(id)
        }
    }
}

#[test]
fn functions_with_one_pinned_key_share_their_records_wherever_they_live() {
    assert_eq!(billing::invoice_total(4), 400);
    assert_eq!(accounts::invoices::total(4), 400);
    assert_eq!(OLD_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(NEW_RUNS.load(Ordering::SeqCst), 0, "the moved function hit");
    // The pinned key names no crate or module, so another binary over the same store finds it.
    let key = accounts::invoices::total::key(4).unwrap();
    assert_eq!(key, "v1:billing::invoice_total(4)");
    assert_eq!(billing::invoice_total::key(4).unwrap(), key);
    assert!(SHARED.1.get(&key).unwrap().is_some());
    assert!(accounts::invoices::total::delete(4).unwrap());
    assert!(!billing::invoice_total::exists(4).unwrap());
}

#[test]
fn the_default_key_names_the_module_so_moved_functions_key_apart() {
    assert_eq!(
        billing::unpinned::key(1).unwrap(),
        "v1:it::pinned::billing::unpinned(1)"
    );
    assert_eq!(
        accounts::invoices::unpinned::key(1).unwrap(),
        "v1:it::pinned::accounts::invoices::unpinned(1)"
    );
    billing::unpinned(1);
    assert!(!accounts::invoices::unpinned::exists(1).unwrap());
}
