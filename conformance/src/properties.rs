//! The rules every store obeys, as functions of the [`Harness`].
//!
//! Each property makes its own store with [`Harness::fresh`], passes trivially when the harness
//! is unavailable outside CI, and returns `Err` with an account of the first failure (after
//! proptest has shrunk it). [`suite!`](crate::suite) wraps each in a `#[test]` of the same name.

use proptest::test_runner::{Config, TestCaseError, TestRunner};

use memo_core::{Record, Store};

use crate::strategy;
use crate::{Harness, Verdict};

/// A proptest runner for `harness.case_count()` cases that writes no regression files.
fn runner(harness: &Harness) -> TestRunner {
    TestRunner::new(Config {
        cases: harness.case_count(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Turns a store error into a failed case that says which call failed.
fn call<T>(what: &str, result: memo_core::Result<T>) -> Result<T, TestCaseError> {
    result.map_err(|e| TestCaseError::fail(format!("{what} failed: {e}")))
}

/// Checks a read against the record last set under the key. An exact store returns `expected`;
/// a lossy one may return nothing, but never another record.
fn check_read(
    key: &str,
    got: Option<&Record>,
    expected: Option<&Record>,
    lossy: bool,
) -> Result<(), TestCaseError> {
    match (got, expected) {
        (None, None) => Ok(()),
        (None, Some(_)) if lossy => Ok(()),
        (Some(got), Some(expected)) if got == expected => Ok(()),
        (got, expected) => Err(TestCaseError::fail(format!(
            "get({key:?}) returned {got:?}, expected {expected:?}{}",
            if lossy { " or None (lossy store)" } else { "" }
        ))),
    }
}

fn finish<V: std::fmt::Debug>(
    name: &str,
    store: &dyn Store,
    result: Result<(), proptest::test_runner::TestError<V>>,
) -> Verdict {
    result.map_err(|e| format!("{name} does not hold for the {} store: {e}", store.name()))
}

/// A `get` after `set` returns the same record, field for field and bit for bit.
///
/// # Errors
/// An account of the first record that came back different.
pub fn get_after_set_returns_same_record(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh() else {
        return Ok(());
    };
    let store = fixture.store();
    let lossy = harness.is_lossy(&*store);
    let result = runner(harness).run(&(strategy::key(), strategy::record()), |(key, record)| {
        call("set", store.set(&key, record.clone()))?;
        let got = call("get", store.get(&key))?;
        check_read(&key, got.as_ref(), Some(&record), lossy)
    });
    finish("get_after_set_returns_same_record", &*store, result)
}

/// A `set` replaces the record under the key: a `get` never returns the older one.
///
/// # Errors
/// An account of the first read that returned the older record, or another wrong one.
pub fn set_overwrites_previous_record(harness: &Harness) -> Verdict {
    let Some(fixture) = harness.fresh() else {
        return Ok(());
    };
    let store = fixture.store();
    let lossy = harness.is_lossy(&*store);
    let cases = (strategy::key(), strategy::record(), strategy::record());
    let result = runner(harness).run(&cases, |(key, first, second)| {
        call("set", store.set(&key, first))?;
        call("set", store.set(&key, second.clone()))?;
        let got = call("get", store.get(&key))?;
        check_read(&key, got.as_ref(), Some(&second), lossy)
    });
    finish("set_overwrites_previous_record", &*store, result)
}
