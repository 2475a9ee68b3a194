//! In-memory stores for memo: unbounded, LRU and moka
