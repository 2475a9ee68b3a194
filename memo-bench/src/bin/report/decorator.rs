//! `#[memoize]` over `MemStore` against `cached`'s `#[cached]` and `#[concurrent_cached]` on a
//! decorated `fn(String) -> Vec<u8>` (64 bytes), cycling over 1,024 warm keys.

use std::hint::black_box;

use memo_bench::decorated::{
    KEYS, Payload, cached_payload, concurrent_payload, memo_payload, names,
};

use crate::measure::{Measured, Op, Plan, compare};

/// Per thread count: memo's row and each peer's, names first.
pub(crate) fn run(plan: &Plan) -> Vec<(usize, Vec<(&'static str, Measured)>)> {
    let names = names();
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
