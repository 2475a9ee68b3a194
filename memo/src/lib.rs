//! memo: memoization and caching with pluggable stores
