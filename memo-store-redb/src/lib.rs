#![doc = include_str!("../README.md")]

mod builder;
mod error;
mod journal;
mod open;
mod peek;
mod queue;
mod store;
mod tables;

pub use builder::{Durability, RedbStoreBuilder};
pub use peek::peek_file;
pub use store::{RedbStats, RedbStore};
