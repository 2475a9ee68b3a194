//! `#[memoize]` on `async fn`: computed once across tasks, the same options and helpers as a
//! blocking function (awaited), a cancelled computation taken over, and nothing blocking.

use std::num::ParseIntError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, Options, memoize};

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

const HANG_GUARD: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

static PRICES: Fixture = LazyLock::new(memoizer);
static PRICE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(PRICES.0, max_age = 60, namespace = "shop")]
async fn price(item: String, quantity: u32) -> u64 {
    PRICE_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    item.len() as u64 * u64::from(quantity)
}

#[test]
fn concurrent_tasks_compute_an_async_fn_once_and_its_helpers_await_the_store() {
    let rt = runtime();
    rt.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| tokio::spawn(price("apple".to_owned(), 3)))
            .collect();
        for task in tasks {
            let v = tokio::time::timeout(HANG_GUARD, task).await.expect("hung");
            assert_eq!(v.unwrap(), 15);
        }
        assert_eq!(PRICE_CALLS.load(Ordering::SeqCst), 1);
        // The helpers take borrowed arguments and honour the decorator's options.
        let key = price::key("apple", 3).unwrap();
        assert!(
            key.starts_with("shop:") && key.ends_with("::price(\"apple\", 3)"),
            "{key}"
        );
        assert!(price::exists("apple", 3).await.unwrap());
        assert_eq!(
            price::ttl("apple", 3).await.unwrap(),
            Some(Duration::from_secs(60))
        );
        price::expire("apple", 3, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            price::ttl("apple", 3).await.unwrap(),
            Some(Duration::from_secs(5))
        );
        PRICES.2.advance(Duration::from_secs(5));
        assert!(!price::exists("apple", 3).await.unwrap());
        assert_eq!(price("apple".to_owned(), 3).await, 15);
        assert_eq!(PRICE_CALLS.load(Ordering::SeqCst), 2);
        assert!(price::delete("apple", 3).await.unwrap());
        assert!(!price::exists("apple", 3).await.unwrap());
        assert_eq!(price::uncached("pear", 2).await, 8);
        assert!(
            !price::exists("pear", 2).await.unwrap(),
            "uncached stores nothing"
        );
        let etagged = Options::new().etag(&7_u8);
        assert_eq!(price::call_with(&etagged, "pear", 2).await, 8);
        assert_eq!(price::etag::<u8>("pear", 2).await.unwrap(), Some(7));
    });
}

static PARSE: Fixture = LazyLock::new(memoizer);
static PARSE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(PARSE.0)]
async fn parse(text: &str) -> Result<u32, ParseIntError> {
    PARSE_CALLS.fetch_add(1, Ordering::SeqCst);
    text.parse()
}

#[memoize(PARSE.0, cache_none = false)]
async fn find(id: u32) -> Option<u32> {
    PARSE_CALLS.fetch_add(1, Ordering::SeqCst);
    (id > 0).then_some(id * 2)
}

#[test]
fn an_async_fn_caches_only_ok_and_some() {
    runtime().block_on(async {
        assert!(parse("x").await.is_err());
        assert!(parse("x").await.is_err());
        assert_eq!(parse("4").await.unwrap(), 4);
        assert_eq!(parse("4").await.unwrap(), 4);
        assert_eq!(find(0).await, None);
        assert_eq!(find(0).await, None);
        assert_eq!(find(2).await, Some(4));
        assert_eq!(find(2).await, Some(4));
    });
    // Two errors, one Ok, two Nones, one Some.
    assert_eq!(PARSE_CALLS.load(Ordering::SeqCst), 6);
}

static SERVICE: Fixture = LazyLock::new(memoizer);

#[derive(serde::Serialize)]
struct Service {
    region: String,
    #[serde(skip)]
    calls: AtomicUsize,
}

impl Service {
    #[memoize(SERVICE.0)]
    async fn quote(&self, item: &str) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        format!("{}:{item}", self.region)
    }
}

#[test]
fn an_async_method_is_keyed_with_self_and_has_awaited_helpers() {
    let eu = Service {
        region: "eu".to_owned(),
        calls: AtomicUsize::new(0),
    };
    let us = Service {
        region: "us".to_owned(),
        calls: AtomicUsize::new(0),
    };
    runtime().block_on(async {
        assert_eq!(eu.quote("tea").await, "eu:tea");
        assert_eq!(eu.quote("tea").await, "eu:tea");
        assert_eq!(us.quote("tea").await, "us:tea");
        assert!(eu.quote_exists("tea").await.unwrap());
        assert!(eu.quote_delete("tea").await.unwrap());
        assert!(!eu.quote_exists("tea").await.unwrap());
        assert!(us.quote_exists("tea").await.unwrap());
    });
    assert_eq!(eu.calls.load(Ordering::SeqCst), 1);
    assert_eq!(us.calls.load(Ordering::SeqCst), 1);
}

static CANCEL: Fixture = LazyLock::new(memoizer);
static CANCEL_CALLS: AtomicUsize = AtomicUsize::new(0);
static STARTED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

#[memoize(CANCEL.0)]
async fn slow_report(id: u32) -> String {
    if CANCEL_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        STARTED.notify_one();
        std::future::pending::<()>().await;
    }
    format!("report {id}")
}

#[test]
fn a_cancelled_async_fn_call_hands_over_to_a_waiting_task() {
    runtime().block_on(async {
        let leader = tokio::spawn(slow_report(1));
        STARTED.notified().await;
        let waiters: Vec<_> = (0..100).map(|_| tokio::spawn(slow_report(1))).collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        for waiter in waiters {
            let v = tokio::time::timeout(HANG_GUARD, waiter)
                .await
                .expect("hung");
            assert_eq!(v.unwrap(), "report 1");
        }
    });
    assert_eq!(CANCEL_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(CANCEL.0.stats().computations, 2);
}
