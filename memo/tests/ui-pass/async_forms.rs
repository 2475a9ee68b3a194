//! Every accepted `async fn` form compiles lint-clean, and its futures (the helpers' too) are
//! `Send`, so they can be spawned on a multi-threaded runtime.
#![deny(missing_docs, unreachable_pub, unused)]

use std::future::Future;
use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

/// Async functions and methods, memoized.
pub mod api {
    use super::{MEMO, memoize};

    /// A plain value.
    #[memoize(MEMO, max_age = 60)]
    pub async fn price(item: String, quantity: u32) -> u64 {
        item.len() as u64 * u64::from(quantity)
    }

    /// A `Result`: only `Ok` is cached.
    #[memoize(MEMO, namespace = "parse")]
    pub async fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
        text.parse()
    }

    /// Strict: memo's errors come back through the error type.
    #[memoize(MEMO, strict)]
    pub async fn strict(n: u8) -> Result<u8, memo::Error> {
        Ok(n)
    }

    /// An `Option` whose `None` is not cached.
    #[memoize(MEMO, cache_none = false, skip(trace))]
    pub async fn find(id: u32, trace: bool) -> Option<String> {
        let _ = trace;
        (id > 0).then(|| id.to_string())
    }

    /// A service.
    #[derive(serde::Serialize)]
    pub struct Service {
        /// Its region.
        pub region: String,
    }

    impl Service {
        /// A method, keyed with `self`.
        #[memoize(MEMO)]
        pub async fn quote(&self, item: &str) -> u64 {
            (self.region.len() + item.len()) as u64
        }

        /// An associated function.
        #[memoize(MEMO, associated)]
        pub async fn default_region() -> String {
            "eu".to_owned()
        }
    }
}

fn assert_send<F: Future + Send>(future: F) -> F {
    future
}

fn main() {
    let service = api::Service {
        region: "eu".to_owned(),
    };
    let _ = assert_send(api::price("a".to_owned(), 2));
    let _ = assert_send(api::price::exists("a", 2));
    let _ = assert_send(api::price::ttl("a", 2));
    let _ = assert_send(api::price::delete("a", 2));
    let _ = assert_send(api::price::expire("a", 2, std::time::Duration::from_secs(1)));
    let _ = assert_send(api::price::expire_at("a", 2, std::time::SystemTime::now()));
    let _ = assert_send(api::price::etag::<u8>("a", 2));
    let _ = assert_send(api::price::call_with(&memo::Options::new(), "a", 2));
    let _ = assert_send(api::price::uncached("a", 2));
    let _: memo::Result<String> = api::price::key("a", 2);
    let _ = assert_send(api::parse("1"));
    let _ = assert_send(api::strict(1));
    let _ = assert_send(api::find(1, false));
    let _ = assert_send(service.quote("x"));
    let _ = assert_send(service.quote_exists("x"));
    let _ = assert_send(api::Service::default_region());
    let _ = &*MEMO;
}
