//! `memo exec` over a redb file: replay, expiry, failures, --force, --stale, keys, errors.

use std::time::Duration;

use crate::support::{Sandbox, code, json, stderr, stdout, wait_until};

/// A shell command that counts its runs in `runs` and prints on both streams.
const NOISY: &str = "echo run >> runs; echo out1; echo err1 >&2; echo out2; exit 3";

#[test]
fn a_hit_replays_stdout_stderr_and_the_exit_status_without_running() {
    let sb = Sandbox::redb();
    let first = sb.run(&["exec", "--", "sh", "-c", NOISY]);
    let second = sb.run(&["exec", "--", "sh", "-c", NOISY]);
    for output in [&first, &second] {
        assert_eq!(stdout(output), "out1\nout2\n");
        assert_eq!(stderr(output), "err1\n");
        assert_eq!(code(output), 3);
    }
    assert_eq!(sb.count("runs"), 1);
}

#[test]
fn stdout_and_stderr_replay_in_the_order_they_were_written() {
    let sb = Sandbox::redb();
    let script = "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c; sleep 0.05; echo d >&2";
    let memo = env!("CARGO_BIN_EXE_memo");
    // Both streams into one pipe, so the order the caller sees is visible.
    let merged = format!("'{memo}' exec -- sh -c '{script}' 2>&1");
    for _ in 0..2 {
        let output = std::process::Command::new("sh")
            .args(["-c", &merged])
            .env("MEMO_STORE", &sb.store)
            .current_dir(sb.dir.path())
            .output()
            .unwrap();
        assert_eq!(stdout(&output), "a\nb\nc\nd\n");
    }
}

#[test]
fn a_record_expires_after_its_ttl() {
    let sb = Sandbox::redb();
    let args = [
        "exec",
        "--ttl",
        "10s",
        "--",
        "sh",
        "-c",
        "echo run >> runs; wc -l < runs",
    ];
    assert_eq!(stdout(&sb.run_at(1000.0, &args)).trim(), "1");
    assert_eq!(stdout(&sb.run_at(1009.5, &args)).trim(), "1");
    assert_eq!(sb.count("runs"), 1);
    assert_eq!(stdout(&sb.run_at(1010.0, &args)).trim(), "2");
    assert_eq!(sb.count("runs"), 2);
}

#[test]
fn discard_failures_caches_only_success() {
    let sb = Sandbox::redb();
    let failing = [
        "exec",
        "--discard-failures",
        "--",
        "sh",
        "-c",
        "echo f >> fails; exit 1",
    ];
    for _ in 0..2 {
        assert_eq!(code(&sb.run(&failing)), 1);
    }
    assert_eq!(sb.count("fails"), 2);
    let passing = [
        "exec",
        "--discard-failures",
        "--",
        "sh",
        "-c",
        "echo p >> passes",
    ];
    for _ in 0..2 {
        assert_eq!(code(&sb.run(&passing)), 0);
    }
    assert_eq!(sb.count("passes"), 1);
    // Without the flag a failure is cached like any result.
    let cached = ["exec", "--", "sh", "-c", "echo f >> kept; exit 1"];
    for _ in 0..2 {
        assert_eq!(code(&sb.run(&cached)), 1);
    }
    assert_eq!(sb.count("kept"), 1);
}

#[test]
fn force_runs_again_and_replaces_the_result() {
    let sb = Sandbox::redb();
    let cmd = ["sh", "-c", "echo run >> runs; wc -l < runs"];
    let plain: Vec<&str> = ["exec", "--"].iter().chain(&cmd).copied().collect();
    let forced: Vec<&str> = ["exec", "--force", "--"]
        .iter()
        .chain(&cmd)
        .copied()
        .collect();
    assert_eq!(stdout(&sb.run(&plain)).trim(), "1");
    assert_eq!(stdout(&sb.run(&forced)).trim(), "2");
    assert_eq!(stdout(&sb.run(&plain)).trim(), "2");
    assert_eq!(sb.count("runs"), 2);
}

#[test]
fn stale_results_are_served_then_refreshed_in_the_background() {
    let sb = Sandbox::redb();
    let cmd = "echo run >> runs; wc -l < runs";
    let args = [
        "exec", "--ttl", "100s", "--stale", "5s", "--", "sh", "-c", cmd,
    ];
    assert_eq!(stdout(&sb.run_at(1000.0, &args)).trim(), "1");
    // Younger than --stale: a plain hit.
    assert_eq!(stdout(&sb.run_at(1004.0, &args)).trim(), "1");
    // Older: the old result now, and a refresh behind it.
    assert_eq!(stdout(&sb.run_at(1010.0, &args)).trim(), "1");
    let key = "exec::sh -c 'echo run >> runs; wc -l < runs'";
    let refreshed = || {
        let shown = sb.run(&["--json", "show", key]);
        code(&shown) == 0 && json(&shown)["created"] == 1010.0
    };
    // A deadline against a hang, not a timing claim.
    wait_until(
        "the background refresh to rewrite the record",
        Duration::from_secs(30),
        refreshed,
    );
    assert_eq!(sb.count("runs"), 2);
    assert_eq!(stdout(&sb.run_at(1011.0, &args)).trim(), "2");
    assert_eq!(sb.count("runs"), 2);
}

#[test]
fn the_flags_make_their_parts_of_the_key() {
    let sb = Sandbox::redb();
    let cmd = "echo run >> runs";
    let with_env = ["exec", "--env", "MEMO_CLI_TEST_VAR", "--", "sh", "-c", cmd];
    sb.memo(&with_env)
        .env("MEMO_CLI_TEST_VAR", "1")
        .output()
        .unwrap();
    sb.memo(&with_env)
        .env("MEMO_CLI_TEST_VAR", "1")
        .output()
        .unwrap();
    assert_eq!(sb.count("runs"), 1);
    sb.memo(&with_env)
        .env("MEMO_CLI_TEST_VAR", "2")
        .output()
        .unwrap();
    assert_eq!(sb.count("runs"), 2);

    std::fs::write(sb.path("input"), "x").unwrap();
    let with_file = ["exec", "--modtime", "input", "--", "sh", "-c", cmd];
    sb.run(&with_file);
    sb.run(&with_file);
    assert_eq!(sb.count("runs"), 3);
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(sb.path("input"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    sb.run(&with_file);
    assert_eq!(sb.count("runs"), 4);

    sb.run(&["exec", "--scope", "other", "--", "sh", "-c", cmd]);
    assert_eq!(sb.count("runs"), 5);
    let keys = json(&sb.run(&["--json", "ls"]));
    let keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"exec:other:sh -c 'echo run >> runs'"),
        "{keys:?}"
    );
}

#[test]
fn a_missing_command_exits_127_and_is_not_cached() {
    let sb = Sandbox::redb();
    let output = sb.run(&["exec", "--", "memo-cli-test-no-such-command"]);
    assert_eq!(code(&output), 127);
    assert!(
        stderr(&output).contains("command not found"),
        "{}",
        stderr(&output)
    );
    std::fs::write(sb.path("not-executable"), "#!/bin/sh\n").unwrap();
    assert_eq!(code(&sb.run(&["exec", "--", "./not-executable"])), 126);
    assert_eq!(json(&sb.run(&["--json", "stats"]))["count"], 0);
}

#[test]
fn a_signal_death_is_128_plus_the_signal() {
    let sb = Sandbox::redb();
    let args = ["exec", "--", "sh", "-c", "kill -TERM $$"];
    assert_eq!(code(&sb.run(&args)), 128 + 15);
    assert_eq!(code(&sb.run(&args)), 128 + 15);
}

#[test]
fn bad_stores_are_clear_errors_with_their_exit_codes() {
    let sb = Sandbox::redb();
    let bad_url = sb
        .memo(&["ls"])
        .env("MEMO_STORE", "s3://bucket")
        .output()
        .unwrap();
    assert_eq!(code(&bad_url), 3);
    assert!(
        stderr(&bad_url).contains("unknown scheme"),
        "{}",
        stderr(&bad_url)
    );
    let bad_exec = sb
        .memo(&["exec", "--", "sh", "-c", "echo run >> runs"])
        .env("MEMO_STORE", "s3://bucket")
        .output()
        .unwrap();
    assert_eq!(code(&bad_exec), 125);
    assert_eq!(sb.count("runs"), 0);

    std::fs::write(sb.path("notes.txt"), "not a cache").unwrap();
    let foreign = format!("redb://{}", sb.path("notes.txt").display());
    let output = sb
        .memo(&["ls"])
        .env("MEMO_STORE", &foreign)
        .output()
        .unwrap();
    assert_eq!(code(&output), 3);
    assert!(
        stderr(&output).contains("not a memo cache"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("notes.txt")).unwrap(),
        "not a cache"
    );

    let missing_dir = format!("redb://{}", sb.path("no/such/dir/c.redb").display());
    let output = sb
        .memo(&["exec", "--", "true"])
        .env("MEMO_STORE", &missing_dir)
        .output()
        .unwrap();
    assert_eq!(code(&output), 125);
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unreachable_redis_runs_the_command_uncached() {
    let sb = Sandbox::redb();
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("redis://127.0.0.1:{port}/0");
    for _ in 0..2 {
        let output = sb
            .memo(&[
                "exec",
                "--",
                "sh",
                "-c",
                "echo run >> runs; echo hi; exit 7",
            ])
            .env("MEMO_STORE", &down)
            .output()
            .unwrap();
        assert_eq!(code(&output), 7);
        assert_eq!(stdout(&output), "hi\n");
        assert_eq!(
            stderr(&output)
                .matches("running the command uncached")
                .count(),
            1
        );
    }
    assert_eq!(sb.count("runs"), 2);
    let ls = sb.memo(&["ls"]).env("MEMO_STORE", &down).output().unwrap();
    assert_eq!(code(&ls), 4);
}

#[test]
fn a_hit_over_redb_reads_the_file_without_writing_it() {
    let sb = Sandbox::redb();
    let args = ["exec", "--", "sh", "-c", "echo run >> runs; echo hi"];
    assert_eq!(stdout(&sb.run(&args)), "hi\n");
    let file = sb.path("cache.redb");
    let before = std::fs::read(&file).unwrap();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    assert_eq!(stdout(&sb.run(&args)), "hi\n");
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified
    );
    assert!(
        std::fs::read(&file).unwrap() == before,
        "the hit wrote to the file"
    );
    assert_eq!(sb.count("runs"), 1);
}
