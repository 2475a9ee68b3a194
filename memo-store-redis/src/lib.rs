#![doc = include_str!("../README.md")]

#[cfg(feature = "tokio")]
mod aio;
mod breaker;
mod builder;
mod error;
mod lock;
mod pool;
mod store;

pub use builder::RedisStoreBuilder;
pub use error::NotSent;
pub use lock::RedisLock;
pub use store::{RedisStats, RedisStore};
