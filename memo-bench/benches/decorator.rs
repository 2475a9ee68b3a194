//! A decorated `fn(String) -> Vec<u8>` (64 bytes) on a hit: `#[memoize]` over `MemStore`
//! against the `cached` crate's `#[cached]` (one `Mutex` around a hash map) and
//! `#[concurrent_cached]` (sharded locks) on the same function, on one thread and on two.
//!
//! Each call takes a fresh `String` (the function takes it by value), cycling over 1,024 warm
//! keys. With two threads, one iteration is one call on each thread, both running at once.
//!
//! `cargo bench -p memo-bench --bench decorator`

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_bench::decorated::{
    COMPUTED, KEYS, MEMO, Payload, cached_payload, concurrent_payload, memo_payload, names,
};
use memo_bench::on_two_threads;

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
