//! `#[memoize]` over `MemStore` against `cached`'s `#[cached]` and `#[concurrent_cached]` on a
//! decorated `fn(String) -> Vec<u8>` (64 bytes), cycling over 1,024 warm keys.

use std::hint::black_box;
use std::sync::LazyLock;

use cached::macros::{cached, concurrent_cached};
use memo::mem::MemStore;
use memo::{Memoizer, memoize};

use crate::measure::{Measured, Op, Plan, compare};

const KEYS: usize = 1_024;

/// The decorated function, whichever crate memoizes it.
type Payload = fn(String) -> Vec<u8>;

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

fn compute(name: &str) -> Vec<u8> {
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

/// Per thread count: memo's row and each peer's, names first.
pub(crate) fn run(plan: &Plan) -> Vec<(usize, Vec<(&'static str, Measured)>)> {
    let names: Vec<String> = (0..KEYS).map(|i| format!("user-{i:04}")).collect();
    let variants: [(&'static str, Payload); 3] = [
        ("#[memoize] (MemStore)", memo_payload),
        ("cached #[cached]", cached_payload),
        ("cached #[concurrent_cached]", concurrent_payload),
    ];
    for (_, f) in variants {
        for name in &names {
            black_box(f(name.clone()));
        }
    }
    let closures: Vec<_> = variants
        .iter()
        .map(|&(_, f)| {
            let names = &names;
            move |_t: usize, i: u64| {
                black_box(f(black_box(names[i as usize % KEYS].clone())));
            }
        })
        .collect();
    let ops: Vec<Op<'_>> = closures.iter().map(|c| c as Op<'_>).collect();
    [1, 2]
        .into_iter()
        .map(|threads| {
            let measured = compare(&ops, threads, plan);
            (
                threads,
                variants.iter().map(|(n, _)| *n).zip(measured).collect(),
            )
        })
        .collect()
}
