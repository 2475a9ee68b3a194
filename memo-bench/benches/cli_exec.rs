//! The `memo` command on a hit against starting `true`: what `memo exec -- true` adds to a
//! process start when the result is cached (in a redb file), beside the start it replaces.
//! With `MEMO_BENCH_BKT=/path/to/bkt`, `bkt -- true` on a hit runs beside them.
//!
//! `cargo build --release -p memo-cli && cargo bench -p memo-bench --bench cli_exec`
//!
//! The `memo` binary is `MEMO_BIN`, else the one beside this bench's target directory
//! (`target/release/memo`), built first when missing.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};

/// The `memo` binary to measure.
fn memo_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("MEMO_BIN") {
        return bin.into();
    }
    // This bench runs from <target>/release/deps/.
    let exe = std::env::current_exe().expect("the bench's own path");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("<target>/release");
    let bin = release.join("memo");
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "--release", "-p", "memo-cli"])
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build --release -p memo-cli failed");
    }
    bin
}

/// Runs `command` to the end with its output discarded; panics unless it succeeded.
fn run(command: &mut Command) {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the process starts");
    assert!(status.success(), "{command:?} failed");
}

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = format!("redb://{}", dir.path().join("cache.redb").display());
    let memo = memo_bin();
    let memo_exec = || {
        let mut command = Command::new(&memo);
        command
            .env("MEMO_STORE", &store)
            .args(["exec", "--", "true"]);
        command
    };
    // The first run is the miss that fills the cache; every measured run is a hit.
    run(&mut memo_exec());

    let mut group = c.benchmark_group("cli_exec_hit");
    group.bench_function("memo_exec_true_hit", |b| b.iter(|| run(&mut memo_exec())));
    group.bench_function("spawn_true", |b| b.iter(|| run(&mut Command::new("true"))));
    if let Some(bkt) = std::env::var_os("MEMO_BENCH_BKT") {
        let bkt_exec = || {
            let mut command = Command::new(&bkt);
            command
                .env("BKT_CACHE_DIR", dir.path().join("bkt"))
                .args(["--ttl=1h", "--", "true"]);
            command
        };
        run(&mut bkt_exec());
        group.bench_function("bkt_true_hit", |b| b.iter(|| run(&mut bkt_exec())));
    }
    group.finish();
}

criterion_group!(benches, hits);
criterion_main!(benches);
