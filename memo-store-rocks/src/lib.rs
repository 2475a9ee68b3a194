#![doc = include_str!("../README.md")]

mod builder;
mod error;
mod expiry;
mod store;

pub use builder::{Compression, RocksStoreBuilder, SyncPolicy};
pub use error::RocksError;
pub use store::RocksStore;
