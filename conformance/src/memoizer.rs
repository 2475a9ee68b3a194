//! The Memoizer's behaviour, checked over the store under test.

/// Expands to the Memoizer behaviour tests of [`suite!`](crate::suite); used by `suite!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_suite {
    ($harness:path) => {};
}
