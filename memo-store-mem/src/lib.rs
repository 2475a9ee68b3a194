#![doc = include_str!("../README.md")]

mod lru;
mod mem;
mod moka;

pub use self::lru::LruStore;
pub use self::mem::MemStore;
pub use self::moka::{DEFAULT_MAX_BYTES, MokaStore, MokaStoreBuilder};
