//! memo's main job on its embedded default: memoize a slow function into a redb file in your
//! cache directory. Run it twice; the second run is served from the file.
//!
//! `cargo run --release --example quickstart`

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use memo::Memoizer;
use memo::key::KeyBuilder;
use memo::redb::RedbStore;

/// Deliberately slow: the naive recursion makes about `fib(n)` calls.
fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// `$XDG_CACHE_HOME/memo/quickstart.redb`, or `~/.cache/memo/quickstart.redb`.
fn cache_file() -> Option<PathBuf> {
    let non_empty = |var| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base =
        non_empty("XDG_CACHE_HOME").or_else(|| non_empty("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("memo").join("quickstart.redb"))
}

fn run() -> Result<(), Box<dyn Error>> {
    let file = cache_file().ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let memo = Memoizer::new(RedbStore::open(&file)?);
    println!("memo quickstart, cache file {}", file.display());

    let started = Instant::now();
    for n in [40, 42, 40] {
        let mut key = KeyBuilder::new("quickstart::fib");
        key.arg(&n)?;
        let computations = memo.stats().computations;
        let call = Instant::now();
        let value: u64 = memo.get(&key.finish(), || fib(n))?;
        let took = call.elapsed();
        let how = if memo.stats().computations > computations {
            "computed"
        } else {
            "from the cache"
        };
        println!("fib({n}) = {value:<12} {how:>14} in {}", human(took));
    }
    let stats = memo.stats();
    println!(
        "{} calls in {}: {} computed, {} served from the cache",
        stats.hits + stats.misses,
        human(started.elapsed()),
        stats.computations,
        stats.hits,
    );
    if stats.computations > 0 {
        println!(
            "run it again: every call will be served from {}",
            file.display()
        );
    }
    Ok(())
}

fn human(took: Duration) -> String {
    if took >= Duration::from_millis(100) {
        format!("{:.2} s", took.as_secs_f64())
    } else if took >= Duration::from_millis(1) {
        format!("{:.1} ms", took.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", took.as_secs_f64() * 1e6)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}
