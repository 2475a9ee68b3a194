//! `ls`, `show`, `rm`, `purge`, `stats` and `compact` over caches the library's Memoizer wrote.

use std::sync::Arc;
use std::time::Duration;

use memo::{ManualClock, Memoizer, Options, Store};

use crate::support::{Sandbox, code, json, stdout};

/// Three records under namespace `app`: a string, a number with an etag, and one that expired
/// an hour ago.
fn fill(store: Arc<dyn Store>) {
    let now = memo::to_unix(std::time::SystemTime::now());
    let clock = ManualClock::at(now);
    let memo = Memoizer::builder_arc(store).clock(clock.clone()).build();
    let opts = Options::new()
        .namespace("app")
        .max_age(Duration::from_secs(600));
    let text: String = memo
        .get_with("greeting", &opts, || "hello, world".to_owned())
        .unwrap();
    assert_eq!(text, "hello, world");
    let answer: u32 = memo
        .get_with("answer", &opts.clone().etag(&7_u32), || 42)
        .unwrap();
    assert_eq!(answer, 42);
    clock.set(now - 7200.0);
    let old: u64 = memo.get_with("old", &opts, || 1).unwrap();
    assert_eq!(old, 1);
}

fn keys(listing: &serde_json::Value) -> Vec<&str> {
    listing
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect()
}

/// `native_expiry`: the store (Redis) drops expired records itself, so the old one is gone.
fn inspect_a_cache_the_library_wrote(sb: &Sandbox, native_expiry: bool) {
    let listing = json(&sb.run(&["--json", "ls"]));
    if native_expiry {
        assert_eq!(keys(&listing), ["app:answer", "app:greeting"]);
    } else {
        assert_eq!(keys(&listing), ["app:answer", "app:greeting", "app:old"]);
        assert_eq!(listing[2]["expired"], true);
    }
    let answer = &listing[0];
    assert_eq!(answer["etag"], true);
    assert_eq!(answer["expired"], false);
    let ttl = answer["ttl_secs"].as_f64().unwrap();
    assert!(ttl > 0.0 && ttl <= 600.0, "{ttl}");
    assert!(answer["size"].as_u64().unwrap() > 0);
    assert_eq!(
        keys(&json(&sb.run(&["--json", "ls", "app:g"]))),
        ["app:greeting"]
    );

    let human = stdout(&sb.run(&["ls"]));
    assert!(human.lines().next().unwrap().contains("KEY"), "{human}");
    assert!(human.contains("app:greeting"), "{human}");
    assert_eq!(human.contains("expired"), !native_expiry, "{human}");

    let shown = json(&sb.run(&["--json", "show", "app:greeting"]));
    assert_eq!(shown["text"], "hello, world");
    assert_eq!(shown["etag_hex"], serde_json::Value::Null);
    let human = stdout(&sb.run(&["show", "app:answer"]));
    assert!(human.contains("hex:    2a"), "{human}");
    assert!(human.contains("etag:     "), "{human}");
    assert_eq!(code(&sb.run(&["show", "app:nothing"])), 1);

    let stats = json(&sb.run(&["--json", "stats"]));
    assert_eq!(stats["count"], if native_expiry { 2 } else { 3 });
    assert_eq!(stats["expired"], u8::from(!native_expiry));
    if !native_expiry {
        assert_eq!(stats["oldest_key"], "app:old");
    }
    assert!(stats["bytes"].as_u64().unwrap() > 0);

    let purged = json(&sb.run(&["--json", "purge"]));
    assert_eq!(purged["native_expiry"], native_expiry);
    assert_eq!(purged["removed"], u8::from(!native_expiry));
    assert_eq!(json(&sb.run(&["--json", "stats"]))["count"], 2);

    assert_eq!(json(&sb.run(&["--json", "rm", "app:answer"]))["removed"], 1);
    assert_eq!(code(&sb.run(&["rm", "app:answer"])), 1);
    assert_eq!(
        json(&sb.run(&["--json", "rm", "--prefix", "app:"]))["removed"],
        1
    );
    assert_eq!(json(&sb.run(&["--json", "stats"]))["count"], 0);
}

#[test]
fn inspect_a_redb_cache_the_memoizer_wrote() {
    let sb = Sandbox::redb();
    fill(memo::url::open(&sb.store).unwrap());
    inspect_a_cache_the_library_wrote(&sb, false);
    let compacted = json(&sb.run(&["--json", "compact"]));
    assert!(compacted["bytes_after"].as_u64().unwrap() > 0);
    assert!(compacted["bytes_after"].as_u64() <= compacted["bytes_before"].as_u64());
}

#[test]
fn inspect_a_redis_cache_the_memoizer_wrote() {
    let Some(sb) = Sandbox::redis() else { return };
    fill(memo::url::open(&sb.store).unwrap());
    inspect_a_cache_the_library_wrote(&sb, true);
    assert_eq!(code(&sb.run(&["compact"])), 5);
}

#[test]
fn looking_at_a_missing_redb_file_does_not_create_it() {
    let sb = Sandbox::redb();
    assert_eq!(json(&sb.run(&["--json", "stats"]))["count"], 0);
    assert_eq!(code(&sb.run(&["show", "x"])), 1);
    assert!(!sb.path("cache.redb").exists());
}

#[test]
fn purge_removes_expired_exec_results_and_idle_lock_files() {
    let sb = Sandbox::redb();
    let run =
        |now: f64, cmd: &str| sb.run_at(now, &["exec", "--ttl", "10s", "--", "sh", "-c", cmd]);
    let old = memo::to_unix(std::time::SystemTime::now()) - 3600.0;
    assert_eq!(code(&run(old, "echo a")), 0);
    assert_eq!(code(&run(old + 3595.0, "echo b")), 0);
    let locks = sb.path("cache.redb.locks");
    // One per key, and the one opens take turns on.
    assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 3);
    let purged = json(&sb.run(&["--json", "purge"]));
    assert_eq!(purged["removed"], 1);
    assert_eq!(purged["lock_files_removed"], 3);
    let listing = json(&sb.run(&["--json", "ls"]));
    assert_eq!(keys(&listing), ["exec::sh -c 'echo b'"]);
    let shown = json(&sb.run(&["--json", "show", "exec::sh -c 'echo b'"]));
    assert_eq!(shown["exec"]["stdout"], "b\n");
    assert_eq!(shown["exec"]["code"], 0);
}
