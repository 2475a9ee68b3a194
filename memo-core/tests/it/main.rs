//! memo-core's integration tests: the Memoizer's behaviour, single-flight and trust rules over
//! small in-test stores.

mod async_calls;
mod flight;
mod memoizer;
mod record_lock;
mod trust;
