//! Runs a short version of every benchmark workload, each store beside its raw engine and
//! peer crates in interleaved rounds, and writes `BENCHMARKS.md` and its charts.
//!
//! `cargo run -p memo-bench --release --features rocks --bin report -- --redis redis://127.0.0.1:6379/`
//!
//! Flags: `--quick` (few rounds, 100,000 Zipf keys), `--only a,b` (of `hit`, `miss`, `mixed`,
//! `zipf`, `ratio`, `decorator`, `stampede`, `memory`), `--redis URL` (or `MEMO_REDIS_URL`),
//! `--out FILE` (default: `BENCHMARKS.md` at the workspace root; charts go to `bench/` beside
//! it).

mod caches;
mod decorator;
mod machine;
mod measure;
mod memory;
mod stampede;
mod workloads;
mod write;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use measure::Plan;
use workloads::{Keys, Kind};

/// What a run measures, from the command line.
pub(crate) struct Args {
    pub(crate) quick: bool,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) redis: Option<String>,
    pub(crate) out: PathBuf,
    pub(crate) command: String,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == part))
    }
}

const PARTS: [&str; 8] = [
    "hit",
    "miss",
    "mixed",
    "zipf",
    "ratio",
    "decorator",
    "stampede",
    "memory",
];

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        only: None,
        redis: std::env::var("MEMO_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("BENCHMARKS.md"),
        command: String::new(),
    };
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--only" => {
                let list = raw
                    .next()
                    .ok_or("--only needs a list, e.g. --only hit,miss")?;
                let parts: Vec<String> = list.split(',').map(str::to_owned).collect();
                if let Some(bad) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
                    return Err(format!(
                        "--only: no workload {bad:?}; known: {}",
                        PARTS.join(", ")
                    ));
                }
                args.only = Some(parts);
            }
            "--redis" => args.redis = Some(raw.next().ok_or("--redis needs a URL")?),
            "--out" => args.out = PathBuf::from(raw.next().ok_or("--out needs a path")?),
            "-h" | "--help" => {
                return Err(format!(
                    "usage: report [--quick] [--only {}] [--redis URL] [--out FILE]",
                    PARTS.join(",")
                ));
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

/// Deletes every Redis key under `prefix`.
pub(crate) fn cleanup(url: &str, prefix: &str) {
    let mut c = caches::redis_connection(url);
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query(&mut c)
            .expect("SCAN");
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .exec(&mut c)
                .expect("UNLINK");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Everything one run measured.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) tables: Vec<workloads::Table>,
    pub(crate) ratios: Vec<workloads::RatioRow>,
    pub(crate) decorator: Vec<(usize, Vec<(&'static str, measure::Measured)>)>,
    pub(crate) stampedes: Vec<stampede::Stampede>,
    pub(crate) memory: Vec<(memory::Footprint, memory::Footprint)>,
    pub(crate) zipf_keys: usize,
    pub(crate) records: usize,
    pub(crate) plan: Option<Plan>,
    pub(crate) elapsed: Duration,
}

fn main() {
    let mut raw = std::env::args().skip(1).peekable();
    // Hidden subcommands: this program re-executed as a child.
    match raw.peek().map(String::as_str) {
        Some("__memory") => {
            let a: Vec<String> = raw.skip(1).collect();
            let n = a.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
            memory::child(&a[0], n, std::path::Path::new(&a[2]));
            return;
        }
        Some("__stampede") => {
            let a: Vec<String> = raw.skip(1).collect();
            let start = a[3].parse().unwrap_or(0);
            let threads = a[4].parse().unwrap_or(16);
            stampede::child(&a[0], &a[1], &a[2], start, threads);
            return;
        }
        _ => {}
    }
    let mut args = match parse(raw) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    args.command = command_line();
    let began = Instant::now();
    let plan = if args.quick {
        Plan {
            rounds: 11,
            batch_time: Duration::from_millis(1),
        }
    } else {
        // Many short batches: a batch shorter than the scheduler's time slice mostly runs
        // unpreempted, so the median is a quiet batch even while other work shares the cores.
        Plan {
            rounds: 51,
            batch_time: Duration::from_millis(2),
        }
    };
    let zipf_keys = if args.quick { 100_000 } else { 1_000_000 };
    let records = 1_000_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let redis = args.redis.as_deref();
    if let Some(url) = redis {
        // Fail early and clearly on an unreachable server, before minutes of other work.
        if let Err(e) = redis::Client::open(url).and_then(|c| c.get_connection()) {
            eprintln!("cannot reach Redis at {url}: {e}");
            std::process::exit(2);
        }
    }
    let mut results = Results {
        zipf_keys,
        records,
        plan: Some(plan),
        ..Results::default()
    };
    let keys = Keys::new(zipf_keys, 1 << 20);
    let sizes = [64, 4 << 10, 1 << 20];
    for (part, kind) in [("hit", Kind::Hit), ("miss", Kind::Miss)] {
        if args.wants(part) {
            for size in sizes {
                let threads: &[usize] = if size == 64 { &[1, 2] } else { &[1] };
                eprintln!("{part} {size} B");
                results.tables.extend(workloads::run(
                    kind,
                    size,
                    threads,
                    dir.path(),
                    redis,
                    &keys,
                    &plan,
                ));
            }
        }
    }
    for (part, kind) in [("mixed", Kind::Mixed), ("zipf", Kind::Zipf)] {
        if args.wants(part) {
            eprintln!("{part}");
            results.tables.extend(workloads::run(
                kind,
                64,
                &[1, 2],
                dir.path(),
                redis,
                &keys,
                &plan,
            ));
        }
    }
    if args.wants("ratio") {
        eprintln!("Zipf hit ratios");
        results.ratios = workloads::hit_ratios(&keys, &[1, 5, 10], &plan);
    }
    if args.wants("decorator") {
        eprintln!("decorator");
        results.decorator = decorator::run(&plan);
    }
    if args.wants("stampede") {
        eprintln!("stampede");
        let rounds = if args.quick { 1 } else { 3 };
        results.stampedes = stampede::in_process(dir.path(), redis, rounds);
        if let Some(url) = redis {
            results
                .stampedes
                .push(stampede::across_processes(url, 4, 16, rounds));
        }
    }
    if args.wants("memory") {
        eprintln!("memory");
        results.memory = memory::run(records, dir.path());
        if let Some(url) = redis {
            results.memory.push(memory::redis(url, records));
        }
    }
    if let Some(url) = redis {
        cleanup(url, &format!("memo-report:{}:", std::process::id()));
    }
    results.elapsed = began.elapsed();
    match write::report(&args, &results) {
        Ok(paths) => {
            for p in paths {
                eprintln!("wrote {}", p.display());
            }
            eprintln!("in {:.0?}", results.elapsed);
        }
        Err(e) => {
            eprintln!("could not write the report: {e}");
            std::process::exit(1);
        }
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let features = if cfg!(feature = "rocks") {
        " --features rocks"
    } else {
        ""
    };
    let tail = if args.is_empty() {
        String::new()
    } else {
        format!(" -- {}", args.join(" "))
    };
    format!("cargo run -p memo-bench --release{features} --bin report{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_parse_and_bad_ones_are_refused() {
        let a = args(&["--quick", "--only", "hit,zipf", "--redis", "redis://x/"]).unwrap();
        assert!(a.quick && a.wants("hit") && a.wants("zipf") && !a.wants("miss"));
        assert_eq!(a.redis.as_deref(), Some("redis://x/"));
        assert!(args(&["--only", "nope"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
        assert!(args(&["--redis"]).is_err());
    }
}
