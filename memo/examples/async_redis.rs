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
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use memo::redis::RedisStore;
use memo::{Memoizer, Options};

/// The slow part of a request: an upstream call, say.
async fn fetch_exchange_rate(currency: &str, calls: &AtomicU32) -> f64 {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    match currency {
        "EUR" => 1.08,
        "GBP" => 1.27,
        _ => 1.0,
    }
}

/// The memoized handler: one key per currency, fresh for a minute, shared through Redis.
async fn exchange_rate(memo: &Memoizer, currency: &str, calls: &AtomicU32) -> memo::Result<f64> {
    let opts = Options::new()
        .namespace("example:rates")
        .max_age(Duration::from_secs(60));
    memo.get_async_with(currency, &opts, || fetch_exchange_rate(currency, calls))
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url =
        std::env::var("MEMO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    // Lazy: no blocking connection at start; the first async call opens the async one.
    let memo = Memoizer::new(RedisStore::builder(&url).lazy(true).build()?);
    let calls = Arc::new(AtomicU32::new(0));
    for round in ["first", "second"] {
        let started = Instant::now();
        let requests: Vec<_> = (0..100)
            .map(|_| {
                let (memo, calls) = (memo.clone(), calls.clone());
                tokio::spawn(async move { exchange_rate(&memo, "EUR", &calls).await })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await??, 1.08);
        }
        println!(
            "{round} round: 100 concurrent requests in {:?}, {} upstream call(s) so far",
            started.elapsed(),
            calls.load(Ordering::SeqCst)
        );
    }
    println!("{:?}", memo.stats());
    Ok(())
}
