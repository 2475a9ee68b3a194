#![doc = include_str!("../README.md")]

mod builder;
mod error;
mod lock;
mod pool;
mod store;

pub use builder::RedisStoreBuilder;
pub use lock::RedisLock;
pub use store::RedisStore;
