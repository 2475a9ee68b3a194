//! The #[memoize] attribute of memo.
