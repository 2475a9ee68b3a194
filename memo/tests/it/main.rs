//! The `#[memoize]` decorator and the `memo` facade, end to end over real stores.

mod async_fn;
mod borrowed;
mod decorator;
mod helpers;
mod keys;
mod methods;
mod persistence;
mod pinned;
mod ui;

use std::sync::Arc;

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer};

/// A Memoizer over a store the test can look into, on a manual clock.
pub(crate) fn memoizer() -> (Memoizer, Arc<MemStore>, ManualClock) {
    let store = Arc::new(MemStore::new());
    let clock = ManualClock::new();
    let memo = Memoizer::builder(store.clone())
        .clock(clock.clone())
        .build();
    (memo, store, clock)
}
