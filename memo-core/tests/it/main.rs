//! memo-core's integration tests: the Memoizer's trust rules over small in-test stores.

mod trust;
