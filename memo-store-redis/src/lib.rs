#![doc = include_str!("../README.md")]

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
