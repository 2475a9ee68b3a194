//! Criterion benchmarks for memo; see `benches/` and the README for how to run them.
