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

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[test]
fn a_hit_is_one_get_and_a_miss_adds_one_set_px() {
    if !support::has_redis_server() {
        support::skip("no redis-server binary on the PATH to count commands on");
        return;
    }
    let server = LocalServer::start(support::free_port());
    let memo = Memoizer::new(RedisStore::connect(&server.url()).unwrap());
    let mut raw = support::raw(&server.url());
    commands(&mut raw);

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

    assert_eq!(memo.ttl("a").unwrap(), None);
    assert_eq!(commands(&mut raw), expect(&[("get", 1)]));
}
