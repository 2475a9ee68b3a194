#![doc = include_str!("../README.md")]

mod builder;
mod error;
mod open;
mod queue;
mod store;
mod tables;

pub use builder::{Durability, RedbStoreBuilder};
pub use store::RedbStore;
