//! A decorated `fn(String) -> Vec<u8>` (64 bytes) on a hit: `#[memoize]` over `MemStore`
//! against the `cached` crate's `#[cached]` (one `Mutex` around a hash map) and
//! `#[concurrent_cached]` (sharded locks) on the same function, on one thread and on two.
//!
//! Each call takes a fresh `String` (the function takes it by value), cycling over 1,024 warm
//! keys. With two threads, one iteration is one call on each thread, both running at once.
//!
//! `cargo bench -p memo-bench --bench decorator`

use std::hint::black_box;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cached::macros::{cached, concurrent_cached};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo::mem::MemStore;
use memo::{Memoizer, memoize};
use memo_bench::on_two_threads;

const KEYS: usize = 1_024;

/// The memoized function, whichever crate memoizes it.
type Payload = fn(String) -> Vec<u8>;

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

/// Computations of every variant, to check that the measured calls were all hits.
static COMPUTED: AtomicUsize = AtomicUsize::new(0);

fn compute(name: &str) -> Vec<u8> {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    let seed = name.bytes().fold(0_u8, u8::wrapping_add);
    (0..64).map(|i| seed.wrapping_add(i)).collect()
}

#[memoize(MEMO)]
fn memo_payload(name: String) -> Vec<u8> {
    compute(&name)
}

#[cached]
fn cached_payload(name: String) -> Vec<u8> {
    compute(&name)
}

#[concurrent_cached]
fn concurrent_payload(name: String) -> Vec<u8> {
    compute(&name)
}

fn names() -> Vec<String> {
    (0..KEYS).map(|i| format!("user-{i:04}")).collect()
}

/// `iters` calls of `f` over the names, starting at `offset`.
fn calls(f: Payload, names: &[String], offset: usize, iters: u64) {
    for name in names.iter().cycle().skip(offset % KEYS).take(count(iters)) {
        let value = f(black_box(name.clone()));
        assert_eq!(value.len(), 64);
        black_box(value);
    }
}

fn count(iters: u64) -> usize {
    usize::try_from(iters).expect("criterion asks for an addressable number of calls")
}

fn decorator_hit(c: &mut Criterion) {
    let names = names();
    let variants: [(&str, Payload); 3] = [
        ("memoize_mem", memo_payload),
        ("cached", cached_payload),
        ("concurrent_cached", concurrent_payload),
    ];
    for (_, f) in variants {
        calls(f, &names, 0, KEYS as u64);
    }
    let warm = COMPUTED.load(Ordering::Relaxed);
    assert_eq!(warm, 3 * KEYS);

    let mut group = c.benchmark_group("decorator_hit_1_thread");
    group.throughput(Throughput::Elements(1));
    for (name, f) in variants {
        group.bench_function(name, |b| {
            let mut offset = 0;
            b.iter_custom(|iters| {
                let began = Instant::now();
                calls(f, &names, offset, iters);
                offset += 1;
                began.elapsed()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decorator_hit_2_threads");
    // One iteration is a call on each of the two threads.
    group.throughput(Throughput::Elements(2));
    for (name, f) in variants {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| on_two_threads(|t| calls(f, &names, t * KEYS / 2, iters)));
        });
    }
    group.finish();

    assert_eq!(
        COMPUTED.load(Ordering::Relaxed),
        warm,
        "every measured call was a hit"
    );
    assert_eq!(MEMO.stats().computations, KEYS as u64);
}

criterion_group!(benches, decorator_hit);
criterion_main!(benches);
