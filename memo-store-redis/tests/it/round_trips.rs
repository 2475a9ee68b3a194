//! The commands each operation sends, counted by a private server's `INFO commandstats`: a
//! hit is one `GET` and nothing else.

use std::collections::BTreeMap;

use memo_core::{Memoizer, Options};
use memo_store_redis::RedisStore;

use crate::support::{self, LocalServer};

/// Calls per command since the last `CONFIG RESETSTAT`, without `INFO` and `CONFIG`
/// themselves.
fn commands(raw: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(raw).unwrap();
    let counts = info
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .filter(|(name, _)| name != "info" && !name.starts_with("config"))
        .collect();
    redis::cmd("CONFIG").arg("RESETSTAT").exec(raw).unwrap();
    counts
}

/// The commands clients sent while `f` ran, in order, without those that scripts ran:
/// what `MONITOR` shows without its `[0 lua]` lines.
fn sent_by_clients(url: &str, f: impl FnOnce()) -> Vec<String> {
    let mut monitor = support::monitor(url);
    f();
    let marker = "end-of-the-call";
    let _: String = redis::cmd("ECHO")
        .arg(marker)
        .query(&mut support::raw(url))
        .unwrap();
    let mut sent = Vec::new();
    loop {
        let redis::Value::SimpleString(line) = monitor.recv_response().unwrap() else {
            panic!("MONITOR sent something other than a line");
        };
        if line.contains(marker) {
            return sent;
        }
        if !line.contains(" lua]") {
            let command = line.split('"').nth(1).unwrap_or_default();
            sent.push(command.to_owned());
        }
    }
}

/// A private server (whose command counts no other test touches), a Memoizer over it and a
/// raw connection to count with, the counts reset; `None` (said) without a `redis-server`.
fn counted() -> Option<(LocalServer, Memoizer, redis::Connection)> {
    if !support::has_redis_server() {
        support::skip("no redis-server binary on the PATH to count commands on");
        return None;
    }
    let server = LocalServer::start();
    let memo = Memoizer::new(RedisStore::connect(&server.url()).unwrap());
    let mut raw = support::raw(&server.url());
    commands(&mut raw);
    Some((server, memo, raw))
}

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[test]
fn a_hit_is_one_get_and_a_miss_adds_one_set_px() {
    let Some((server, memo, mut raw)) = counted() else {
        return;
    };
    let no_lock = Options::new().no_lock();
    assert_eq!(memo.get_with("a", &no_lock, || 1_u32).unwrap(), 1);
    assert_eq!(commands(&mut raw), expect(&[("get", 1), ("set", 1)]));

    for _ in 0..10 {
        assert_eq!(memo.get("a", || 0_u32).unwrap(), 1);
    }
    assert_eq!(
        commands(&mut raw),
        expect(&[("get", 10)]),
        "a hit sent more than one GET"
    );

    // With the lock, three round trips: GET; EVAL (the lock's SET NX PX and the double
    // check's GET, in one script); SET PX pipelined with EVAL (the release). Redis counts the
    // commands of the scripts too: the lock's SET and GET, the release's GET and DEL.
    assert_eq!(memo.get("b", || 2_u32).unwrap(), 2);
    assert_eq!(
        commands(&mut raw),
        expect(&[("del", 1), ("eval", 2), ("get", 3), ("set", 2)])
    );

    // Four commands from the client: the lock's script does the double check's GET.
    let sent = sent_by_clients(&server.url(), || {
        assert_eq!(memo.get("c", || 3_u32).unwrap(), 3);
    });
    assert_eq!(sent, ["GET", "EVAL", "SET", "EVAL"]);
    commands(&mut raw);

    assert_eq!(memo.ttl("a").unwrap(), None);
    assert_eq!(commands(&mut raw), expect(&[("get", 1)]));
}

#[test]
fn an_async_locked_miss_sends_the_same_commands_as_a_blocking_one() {
    let Some((server, memo, mut raw)) = counted() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let value = runtime.block_on(memo.get_async("b", || async { 2_u32 }));
    assert_eq!(value.unwrap(), 2);
    // GET; EVAL (lock and double check); SET PX pipelined with EVAL (the release).
    assert_eq!(
        commands(&mut raw),
        expect(&[("del", 1), ("eval", 2), ("get", 3), ("set", 2)])
    );
    let sent = sent_by_clients(&server.url(), || {
        let value = runtime.block_on(memo.get_async("c", || async { 3_u32 }));
        assert_eq!(value.unwrap(), 3);
    });
    assert_eq!(sent, ["GET", "EVAL", "SET", "EVAL"]);
    assert_eq!(memo.stats().computations, 2);
    assert_eq!(
        runtime
            .block_on(memo.get_async("b", || async { 0_u32 }))
            .unwrap(),
        2
    );
}
