//! An async service's slow lookup memoized into Redis from tokio: 100 concurrent requests for a
//! cold key compute it once and never block the runtime; the next round is served from Redis,
//! also to other processes. Run it twice: the second run starts warm.
//!
//! ```sh
//! redis-server --port 6379 --save '' --appendonly no --daemonize yes
//! cargo run --example async_redis --features redis,tokio
//! ```
//!
//! `MEMO_REDIS_URL` names another server (default `redis://127.0.0.1:6379/`).

use std::error::Error;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use memo::redis::RedisStore;
use memo::{Memoizer, memoize};

/// Lazy: building the store opens no connection (nothing blocks the runtime); the first async
/// call opens the async one.
static MEMO: LazyLock<Memoizer> = LazyLock::new(|| {
    let url =
        std::env::var("MEMO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let store = RedisStore::builder(&url).lazy(true).build();
    Memoizer::new(store.expect("a valid Redis URL"))
});

static UPSTREAM_CALLS: AtomicU32 = AtomicU32::new(0);

/// The slow part of a request, memoized: one key per currency, fresh for a minute, shared
/// through Redis by every process.
#[memoize(MEMO, namespace = "example:rates", max_age = 60)]
async fn exchange_rate(currency: String) -> f64 {
    UPSTREAM_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    match currency.as_str() {
        "EUR" => 1.08,
        "GBP" => 1.27,
        _ => 1.0,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    for round in ["first", "second"] {
        let started = Instant::now();
        let requests: Vec<_> = (0..100)
            .map(|_| tokio::spawn(exchange_rate("EUR".to_owned())))
            .collect();
        for request in requests {
            assert!((request.await? - 1.08).abs() < f64::EPSILON);
        }
        println!(
            "{round} round: 100 concurrent requests in {:?}, {} upstream call(s) in this process",
            started.elapsed(),
            UPSTREAM_CALLS.load(Ordering::SeqCst)
        );
    }
    println!("cached for {:?} more", exchange_rate::ttl("EUR").await?);
    println!("{:?}", MEMO.stats());
    Ok(())
}
