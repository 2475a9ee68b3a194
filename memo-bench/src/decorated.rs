//! The decorated function the decorator bench and the report both measure: one
//! `fn(String) -> Vec<u8>` (64 bytes) memoized by `#[memoize]` over `MemStore`, by `cached`'s
//! `#[cached]` (one `Mutex` around a hash map) and by its `#[concurrent_cached]` (sharded
//! locks), called over [`KEYS`] warm names.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use cached::macros::{cached, concurrent_cached};
use memo::mem::MemStore;
use memo::{Memoizer, memoize};

/// How many names the calls cycle over.
pub const KEYS: usize = 1_024;

/// The decorated function, whichever crate memoizes it.
pub type Payload = fn(String) -> Vec<u8>;

/// The Memoizer behind [`memo_payload()`].
pub static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

/// Computations of every variant, to check that the measured calls were all hits.
pub static COMPUTED: AtomicUsize = AtomicUsize::new(0);

/// The [`KEYS`] names the calls take.
pub fn names() -> Vec<String> {
    (0..KEYS).map(|i| format!("user-{i:04}")).collect()
}

fn compute(name: &str) -> Vec<u8> {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    let seed = name.bytes().fold(0_u8, u8::wrapping_add);
    (0..64).map(|i| seed.wrapping_add(i)).collect()
}

/// Memoized by `#[memoize]` over `MemStore`.
#[memoize(MEMO)]
pub fn memo_payload(name: String) -> Vec<u8> {
    compute(&name)
}

/// Memoized by `cached`'s `#[cached]`.
#[cached]
pub fn cached_payload(name: String) -> Vec<u8> {
    compute(&name)
}

/// Memoized by `cached`'s `#[concurrent_cached]`.
#[concurrent_cached]
pub fn concurrent_payload(name: String) -> Vec<u8> {
    compute(&name)
}
