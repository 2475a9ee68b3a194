#![doc = include_str!("../README.md")]

mod behind;
mod builder;
mod residency;
mod stats;
mod store;
#[cfg(feature = "redis")]
mod tracking;

pub use builder::{DEFAULT_WRITE_BEHIND_WAIT, TieredStoreBuilder};
pub use residency::DEFAULT_MAX_RESIDENCY;
pub use stats::TieredStats;
pub use store::TieredStore;
