//! Redis store and distributed lock for memo
