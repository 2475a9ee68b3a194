//! The workloads: each store and its references in interleaved rounds.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use memo_core::Record;
use memo_store_mem::{LruStore, MokaStore};

use crate::caches::{Cache, CachedSized, Memo, Quick, RawLru, RawMoka, Setup, subjects};
use crate::measure::{Measured, Op, Plan, compare};
use memo_bench::zipf::Zipf;

/// What a workload does per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Hit,
    Miss,
    Mixed,
    Zipf,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Hit => "hit",
            Kind::Miss => "miss",
            Kind::Mixed => "mixed 90/10",
            Kind::Zipf => "Zipf",
        }
    }
}

/// One store against one reference in one workload.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) store: &'static str,
    pub(crate) reference: &'static str,
    pub(crate) memo: Measured,
    pub(crate) raw: Measured,
}

/// One workload table.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) kind: Kind,
    pub(crate) size: usize,
    pub(crate) threads: usize,
    pub(crate) rows: Vec<Row>,
    /// Calls that computed in a workload that should only hit (should stay 0).
    pub(crate) unexpected: u64,
}

/// Key sets shared by the workloads.
pub(crate) struct Keys {
    pub(crate) zipf: Vec<String>,
    pub(crate) draws: Vec<u32>,
}

impl Keys {
    pub(crate) fn new(n: usize, draws: usize) -> Self {
        Self {
            zipf: (0..n).map(zipf_key).collect(),
            draws: Zipf::new(n, 1.0).draws(draws, 0x853c_49e6_748f_ea9b),
        }
    }
}

fn zipf_key(i: usize) -> String {
    format!("z{i}")
}

fn value(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// One side's operation in a workload.
fn op_for<'a>(
    kind: Kind,
    side: &'a dyn Cache,
    v: &'a [u8],
    warm: &'a [String],
    keys: &'a Keys,
    unexpected: &'a AtomicU64,
) -> impl Fn(usize, u64) + Sync + 'a {
    move |t: usize, i: u64| {
        let mut computed = || {
            unexpected.fetch_add(1, Ordering::Relaxed);
            v.to_vec()
        };
        let mut fresh = || v.to_vec();
        let got = match kind {
            Kind::Hit => side.get_or_make(t, &warm[i as usize % warm.len()], &mut computed),
            Kind::Mixed if i % 10 != 9 => {
                side.get_or_make(t, &warm[(i as usize * 7) % warm.len()], &mut computed)
            }
            Kind::Miss | Kind::Mixed => side.get_or_make(t, &format!("x{i}"), &mut fresh),
            Kind::Zipf => {
                let rank = keys.draws[i as usize % keys.draws.len()] as usize;
                side.get_or_make(t, &keys.zipf[rank], &mut computed)
            }
        };
        black_box(got);
    }
}

/// Runs `kind` with `size`-byte values on every store, for each thread count in `threads`
/// (the stores are set up and filled once for all of them).
pub(crate) fn run(
    kind: Kind,
    size: usize,
    threads: &[usize],
    dir: &Path,
    redis: Option<&str>,
    keys: &Keys,
    plan: &Plan,
) -> Vec<Table> {
    let v = value(size);
    // Enough warm keys to leave the CPU's caches, few enough to keep 1 MiB values in memory.
    let warm: Vec<String> = (0..(64 << 20) / size.max(1))
        .take(1_000)
        .map(|i| format!("w{i}"))
        .collect();
    let entries = if kind == Kind::Zipf {
        keys.zipf.len()
    } else {
        200_000
    };
    let setup = Setup {
        dir,
        redis,
        prefix: format!(
            "memo-report:{}:{}{size}:",
            std::process::id(),
            kind.name().replace(' ', "")
        ),
        entries,
        moka_bytes: 1 << 30,
        front_entries: entries / 10,
        front_bytes: (entries as u64 / 10) * (size as u64 + 64),
        threads: 2,
        bounded: kind != Kind::Zipf,
    };
    let mut tables: Vec<Table> = threads
        .iter()
        .map(|&t| Table {
            kind,
            size,
            threads: t,
            rows: Vec::new(),
            unexpected: 0,
        })
        .collect();
    for subject in subjects(&setup) {
        let started = Instant::now();
        let sides: Vec<&dyn Cache> = std::iter::once(&*subject.memo)
            .chain(subject.references.iter().map(|(_, c)| &**c))
            .collect();
        for side in &sides {
            match kind {
                Kind::Hit | Kind::Mixed => side.fill(&warm, &v),
                Kind::Zipf => side.fill(&keys.zipf, &v),
                Kind::Miss => {}
            }
        }
        let unexpected = AtomicU64::new(0);
        let closures: Vec<_> = sides
            .iter()
            .map(|&side| op_for(kind, side, &v, &warm, keys, &unexpected))
            .collect();
        let ops: Vec<Op<'_>> = closures.iter().map(|c| c as Op<'_>).collect();
        for table in &mut tables {
            let measured = compare(&ops, table.threads, plan);
            for (k, (reference, _)) in subject.references.iter().enumerate() {
                table.rows.push(Row {
                    store: subject.store,
                    reference,
                    memo: measured[0].clone(),
                    raw: measured[k + 1].clone(),
                });
            }
        }
        let unexpected = unexpected.load(Ordering::Relaxed);
        for table in &mut tables {
            table.unexpected += unexpected;
        }
        eprintln!(
            "  {} {} {}: {:.1?}",
            kind.name(),
            memo_bench::markdown::bytes(size as f64),
            subject.store,
            started.elapsed()
        );
    }
    tables
}

/// One bounded cache's hit ratio and cost under Zipf reads at one capacity.
#[derive(Clone, Debug)]
pub(crate) struct RatioRow {
    pub(crate) name: &'static str,
    pub(crate) memo: bool,
    pub(crate) percent: usize,
    pub(crate) hit_ratio: f64,
    pub(crate) ns: Measured,
}

/// The bounded stores and their engines and peers at capacities of `percents` of the keys:
/// warmed up with draws of their own, then measured on the shared draws.
pub(crate) fn hit_ratios(keys: &Keys, percents: &[usize], plan: &Plan) -> Vec<RatioRow> {
    let n = keys.zipf.len();
    let v = value(64);
    let warm_up = Zipf::new(n, 1.0).draws(keys.draws.len(), 0x2545_f491_4f6c_dd1d);
    let weight = |i: usize| {
        let record = Record::new(1.7e9, None, postcard::to_allocvec(&v).expect("encode"));
        (zipf_key(i).len() + record.encoded_len()) as u64
    };
    let per_record = (weight(0) + weight(n - 1)) / 2;
    let mut out = Vec::new();
    for &percent in percents {
        let cap = (n * percent / 100).max(1);
        let sides: Vec<(&'static str, bool, Box<dyn Cache>)> = vec![
            (
                "LruStore",
                true,
                Box::new(Memo::new(LruStore::with_capacity(cap))),
            ),
            (
                "MokaStore",
                true,
                Box::new(Memo::new(
                    MokaStore::with_max_bytes(cap as u64 * per_record).expect("a budget"),
                )),
            ),
            ("Mutex<lru::LruCache>", false, Box::new(RawLru::new(cap))),
            ("moka", false, Box::new(RawMoka::new(cap as u64))),
            ("quick_cache", false, Box::new(Quick::new(cap))),
            ("cached LruCache", false, Box::new(CachedSized::new(cap))),
        ];
        let counts: Vec<(AtomicU64, AtomicU64)> = sides
            .iter()
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect();
        for (_, _, side) in &sides {
            for &rank in &warm_up {
                black_box(side.get_or_make(0, &keys.zipf[rank as usize], &mut || v.clone()));
            }
        }
        let closures: Vec<_> = sides
            .iter()
            .zip(&counts)
            .map(|((_, _, side), (calls, computed))| {
                let v = &v;
                move |t: usize, i: u64| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let rank = keys.draws[i as usize % keys.draws.len()] as usize;
                    black_box(side.get_or_make(t, &keys.zipf[rank], &mut || {
                        computed.fetch_add(1, Ordering::Relaxed);
                        v.clone()
                    }));
                }
            })
            .collect();
        let ops: Vec<Op<'_>> = closures.iter().map(|c| c as Op<'_>).collect();
        let measured = compare(&ops, 1, plan);
        for (((name, memo, _), (calls, computed)), ns) in sides.iter().zip(&counts).zip(measured) {
            let calls = calls.load(Ordering::Relaxed).max(1);
            out.push(RatioRow {
                name,
                memo: *memo,
                percent,
                hit_ratio: 1.0 - computed.load(Ordering::Relaxed) as f64 / calls as f64,
                ns,
            });
        }
        eprintln!("  hit ratio at {percent}%: done");
    }
    out
}
