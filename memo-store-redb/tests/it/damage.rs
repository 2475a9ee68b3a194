//! Bytes of the file changed behind the store's back (bit rot, another program, a bad disk):
//! never a wrong value, never a panic out of the Memoizer. Every trial runs in a fresh child
//! process on a fresh file, so a crash is counted, not hidden.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memo_core::{Memoizer, Store};
use memo_store_redb::RedbStore;

use crate::{child, child_file, child_role};

const TEST: &str = "damage::flipped_bytes_never_give_a_wrong_value_or_a_panic";
/// Trials per way of damaging the file.
const TRIALS: u64 = 100;
const KEYS: u64 = 300;
/// `open`: bytes change while the store has the file open; `closed`: between two opens, with
/// the integrity check on open (the default); `unchecked`: the same without it.
const MODES: [&str; 3] = ["open", "closed", "unchecked"];
/// Trials that once failed, run on every run besides the random ones (the file's layout, and so
/// what a seed damages, is the same from run to run).
const REGRESSIONS: [(&str, u64); 1] = [
    // redb panicked closing the database, in the store's drop.
    ("unchecked", 1_796_209_922_169_158_344),
];

/// The value the function computes for key `i`.
fn value(i: u64) -> String {
    format!("value {i}; ").repeat((i % 37 + 3) as usize)
}

/// splitmix64: the trial's seed decides every flip, and is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// XORs 1 to 16 random bytes of the file with random non-zero masks, through a handle of its
/// own (as another program would).
fn flip(file: &Path, rng: &mut Rng) -> u64 {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(file)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let flips = rng.next() % 16 + 1;
    for _ in 0..flips {
        let at = rng.next() % len;
        let mut byte = [0];
        f.read_exact_at(&mut byte, at).unwrap();
        byte[0] ^= (rng.next() % 255 + 1) as u8;
        f.write_all_at(&byte, at).unwrap();
    }
    f.sync_all().unwrap();
    flips
}

#[test]
fn flipped_bytes_never_give_a_wrong_value_or_a_panic() {
    if let Some(mode) = child_role() {
        trial(&mode);
        return;
    }
    // MEMO_REDB_DAMAGE_SEED replays a printed run.
    let base = std::env::var("MEMO_REDB_DAMAGE_SEED").map_or_else(
        |_| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        },
        |seed| seed.parse().unwrap(),
    );
    println!("damage test base seed {base}");
    let mut failures = Vec::new();
    for mode in MODES {
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        let regressions = REGRESSIONS.iter().filter(|(m, _)| *m == mode);
        let seeds = (0..TRIALS)
            .map(|trial| base.wrapping_add(trial))
            .chain(regressions.map(|&(_, seed)| seed));
        let mut trials = 0;
        for seed in seeds {
            trials += 1;
            let dir = tempfile::tempdir().unwrap();
            let output = child(TEST, mode, &dir.path().join("cache.redb"))
                .env("MEMO_REDB_TEST_SEED", seed.to_string())
                .stderr(std::process::Stdio::null())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                failures.push(format!(
                    "{mode} seed {seed}: the child crashed: {}",
                    output.status
                ));
                *totals.entry("crashed".into()).or_default() += 1;
                continue;
            }
            if !stdout.contains("count caching_at_end 1") && !stdout.contains("count open_refused")
            {
                failures.push(format!("{mode} seed {seed}: never recovered:\n{stdout}"));
            }
            for line in stdout.lines() {
                if let Some((name, n)) = line.strip_prefix("count ").and_then(|l| l.split_once(' '))
                {
                    let n: u64 = n.parse().unwrap();
                    *totals.entry(name.to_owned()).or_default() += n;
                    if (name == "wrong" || name == "escaped_panics") && n > 0 {
                        failures.push(format!("{mode} seed {seed}: {n} {name}"));
                    }
                }
            }
        }
        println!("{mode}: {trials} trials, {totals:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One trial in the child: write the records, damage the file, read every key through a
/// Memoizer, and print the counts.
fn trial(mode: &str) {
    // libtest's "test ... " line has no newline yet: end it, so every count is a line.
    println!();
    let file = child_file();
    let seed: u64 = std::env::var("MEMO_REDB_TEST_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let mut rng = Rng(seed);
    // redb panics on some damage (and the store catches it): count them (stderr is not read).
    let panics = Arc::new(AtomicU64::new(0));
    let seen = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        eprintln!("panic: {info}");
    }));
    {
        let memo = Memoizer::new(RedbStore::open(&file).unwrap());
        for i in 0..KEYS {
            memo.get(&format!("k{i}"), || value(i)).unwrap();
        }
    }
    let store = match mode {
        "open" => {
            let store = RedbStore::open(&file).unwrap();
            println!("count flipped_bytes {}", flip(&file, &mut rng));
            store
        }
        "closed" | "unchecked" => {
            println!("count flipped_bytes {}", flip(&file, &mut rng));
            match RedbStore::builder(&file)
                .check_integrity(mode == "closed")
                .build()
            {
                Ok(store) => store,
                // A flip in redb's magic number: no longer a redb file, so not provably
                // memo's, and refused untouched.
                Err(memo_core::Error::Config(_)) => {
                    println!("count open_refused 1");
                    return;
                }
                Err(error) => panic!("opening the damaged file: {error}"),
            }
        }
        other => panic!("unknown mode {other}"),
    };
    let store = Arc::new(store);
    let memo = Memoizer::new(store.clone());
    let (mut wrong, mut escaped, mut errors) = (0, 0, 0);
    for i in 0..KEYS {
        match catch_unwind(AssertUnwindSafe(|| memo.get(&format!("k{i}"), || value(i)))) {
            Ok(Ok(v)) if v == value(i) => {}
            Ok(Ok(_)) => wrong += 1,
            Ok(Err(_)) => errors += 1,
            Err(_) => escaped += 1,
        }
    }
    let stats = memo.stats();
    // A store that went down recovers by itself: reopened, or moved aside and started afresh.
    let went_down = !store.is_caching();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while !store.is_caching() && Instant::now() < deadline {
        last = store.get("probe").err();
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(error) = last.filter(|_| !store.is_caching()) {
        println!("still down: {error}");
    }
    let moved = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".damaged-")
        })
        .count();
    println!("count wrong {wrong}");
    println!("count escaped_panics {escaped}");
    println!("count errors_returned {errors}");
    println!("count hits {}", stats.hits);
    println!("count misses {}", stats.misses);
    println!("count store_errors {}", stats.store_errors);
    println!("count codec_errors {}", stats.codec_errors);
    println!("count redb_panics_caught {}", panics.load(Ordering::SeqCst));
    println!("count moved_aside {moved}");
    println!("count down_after_reads {}", u64::from(went_down));
    println!("count caching_at_end {}", u64::from(store.is_caching()));
}
