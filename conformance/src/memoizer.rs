//! The Memoizer's behaviours whose outcome depends on the store: a value's round trip through
//! it, expiry and `ttl` as it keeps them, namespaces as its keys, persistence across a reopen,
//! what a lossy store may forget, clearing by scan, and concurrent misses under its lock.
//! (The behaviours no store changes, such as option precedence, etag comparison and
//! single-flight, are memo-core's own tests.)
//!
//! Each function takes the [`Harness`], runs one behaviour on a fresh store with a
//! [`ManualClock`], and returns `Err` naming the behaviour, the store and what was expected;
//! [`suite!`](crate::suite) wraps each in a `#[test]` named like it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_core::{Clock, Error, ManualClock, Memoizer, Options, Region, Store, from_unix};

use crate::check::brief;
use crate::{Fixture, Harness, Verdict};

/// Lists the behaviours once, for the macro and for the function names.
#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_suite {
    ($harness:path) => {
        $crate::__memoizer_tests!($harness;
            memoizer_hit_after_miss_computes_once,
            memoizer_max_age_expires_with_the_clock,
            memoizer_expiry_option_expires_at_its_time,
            memoizer_ttl_falls_with_time,
            memoizer_expire_and_expire_at,
            memoizer_namespace_prefixes_the_stored_key,
            memoizer_per_call_store_is_used,
            memoizer_peek_tells_a_miss_from_a_cached_none,
            memoizer_delete_and_exists,
            memoizer_stored_etag_is_readable,
            memoizer_concurrent_misses_compute_once,
            memoizer_a_hundred_values_come_back_right,
            memoizer_values_survive_a_reopen,
            memoizer_clear_removes_only_the_namespace,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_tests {
    ($harness:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__check($harness, $crate::memoizer::$name);
            }
        )*
    };
}

const MINUTE: Duration = Duration::from_secs(60);

/// The store under test, a Memoizer over it, and the Memoizer's clock.
struct Setup {
    fixture: Fixture,
    memo: Memoizer,
    clock: ManualClock,
    lossy: bool,
}

/// Runs `behaviour` on a fresh [`Setup`], and words its failure with the rule and the store.
fn behaviour(
    name: &str,
    harness: &Harness,
    behaviour: impl FnOnce(Setup) -> Result<(), String>,
) -> Verdict {
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let (store_name, lossy) = (store.name(), harness.is_lossy(&*store));
    let clock = ManualClock::new();
    let memo = Memoizer::builder_arc(store).clock(clock.clone()).build();
    behaviour(Setup {
        fixture,
        memo,
        clock,
        lossy,
    })
    .map_err(|why| format!("{name} does not hold for the {store_name} store: {why}"))
}

/// The result of a Memoizer call, or an account of its error.
fn ok<T>(call: &str, result: memo_core::Result<T>) -> Result<T, String> {
    result.map_err(|e| format!("{call} failed: {e}"))
}

/// `Ok` when `got == expected`; otherwise an account of `what`, both shown bounded.
fn same<T: PartialEq + Debug>(what: &str, got: T, expected: T) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} was {}, expected {}",
            brief(&got),
            brief(&expected)
        ))
    }
}

/// `Ok` when `holds`; otherwise `why`.
fn ensure(holds: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if holds { Ok(()) } else { Err(why()) }
}

/// Counts calls of a memoized function.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn run<T>(&self, value: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        value
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A second call computes nothing, and both return the value.
///
/// # Errors
/// An account of the call that computed again or returned another value.
pub fn memoizer_hit_after_miss_computes_once(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_hit_after_miss_computes_once",
        harness,
        |Setup { memo, lossy, .. }| {
            let calls = Calls::default();
            let first: Vec<u32> = ok(
                "get(\"basic\")",
                memo.get("basic", || calls.run(vec![1, 2, 3])),
            )?;
            let second: Vec<u32> = ok(
                "get(\"basic\")",
                memo.get("basic", || calls.run(vec![1, 2, 3])),
            )?;
            same("the first get(\"basic\")", first, vec![1, 2, 3])?;
            same("the second get(\"basic\")", second, vec![1, 2, 3])?;
            if !lossy {
                same("the number of computations for two gets", calls.count(), 1)?;
                let stats = memo.stats();
                same(
                    "(hits, misses, computations)",
                    (stats.hits, stats.misses, stats.computations),
                    (1, 1, 1),
                )?;
            }
            Ok(())
        },
    )
}

/// A value older than `max_age` is computed again, by the Memoizer's clock.
///
/// # Errors
/// An account of the call that served a value too old, or recomputed a young one.
pub fn memoizer_max_age_expires_with_the_clock(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_max_age_expires_with_the_clock",
        harness,
        |Setup {
             memo, clock, lossy, ..
         }| {
            let opts = Options::new().max_age(Duration::from_secs(10));
            ok(
                "get_with(\"k\", max_age 10 s)",
                memo.get_with("k", &opts, || 1_u8),
            )?;
            clock.advance(Duration::from_secs(9));
            let young = ok("get_with(\"k\")", memo.get_with("k", &opts, || 2_u8))?;
            if !lossy {
                same("get_with(\"k\") 9 s into a 10 s max_age", young, 1)?;
            }
            clock.advance(Duration::from_secs(1));
            let old = ok("get_with(\"k\")", memo.get_with("k", &opts, || 3_u8))?;
            same(
                "get_with(\"k\") 10 s into a 10 s max_age (a new value)",
                old,
                3,
            )
        },
    )
}

/// The `expiry` option stores an absolute expiry and makes the value a miss from then on.
///
/// # Errors
/// An account of the wrong `ttl`, or the call that served an expired value.
pub fn memoizer_expiry_option_expires_at_its_time(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_expiry_option_expires_at_its_time",
        harness,
        |Setup {
             memo, clock, lossy, ..
         }| {
            let at = from_unix(clock.now() + 30.0);
            let opts = Options::new().expiry(at);
            ok(
                "get_with(\"k\", expiry in 30 s)",
                memo.get_with("k", &opts, || 1_u8),
            )?;
            let ttl = ok("ttl(\"k\")", memo.ttl("k"))?;
            ensure(
                lossy
                    || ttl.is_some_and(|t| {
                        t <= Duration::from_secs(30) && t > Duration::from_secs(29)
                    }),
                || {
                    format!(
                        "ttl(\"k\") of a value expiring in 30 s was {ttl:?}, expected 29 to 30 s"
                    )
                },
            )?;
            clock.advance(Duration::from_secs(30));
            let exists = ok("exists(\"k\")", memo.exists("k"))?;
            same("exists(\"k\") at its expiry", exists, false)?;
            let again = ok("get(\"k\")", memo.get("k", || 3_u8))?;
            same("get(\"k\") after its expiry (a new value)", again, 3)
        },
    )
}

/// `ttl` falls as the clock moves, and is `None` when missing, expired or never expiring.
///
/// # Errors
/// An account of the first `ttl` that answered wrongly.
pub fn memoizer_ttl_falls_with_time(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_ttl_falls_with_time",
        harness,
        |Setup {
             memo, clock, lossy, ..
         }| {
            same(
                "ttl(\"k\") of a missing value",
                ok("ttl(\"k\")", memo.ttl("k"))?,
                None,
            )?;
            let opts = Options::new().max_age(MINUTE);
            ok(
                "get_with(\"k\", max_age 60 s)",
                memo.get_with("k", &opts, || 1_u8),
            )?;
            if !lossy {
                same(
                    "ttl(\"k\") at once",
                    ok("ttl(\"k\")", memo.ttl("k"))?,
                    Some(MINUTE),
                )?;
                clock.advance(Duration::from_millis(20_500));
                same(
                    "ttl(\"k\") after 20.5 s",
                    ok("ttl(\"k\")", memo.ttl("k"))?,
                    Some(Duration::from_millis(39_500)),
                )?;
                clock.advance(Duration::from_millis(39_500));
            } else {
                clock.advance(MINUTE);
            }
            same(
                "ttl(\"k\") once expired",
                ok("ttl(\"k\")", memo.ttl("k"))?,
                None,
            )?;
            ok("get(\"forever\")", memo.get("forever", || 2_u8))?;
            same(
                "ttl(\"forever\") of a value that never expires",
                ok("ttl(\"forever\")", memo.ttl("forever"))?,
                None,
            )
        },
    )
}

/// `expire` and `expire_at` rewrite a present value's expiry in the store, and report an absent
/// one as `NotFound`.
///
/// # Errors
/// An account of the first call that answered wrongly.
pub fn memoizer_expire_and_expire_at(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_expire_and_expire_at",
        harness,
        |Setup {
             memo, clock, lossy, ..
         }| {
            let absent = memo.expire("k", MINUTE);
            ensure(
                matches!(&absent, Err(Error::NotFound { key }) if key == "k"),
                || {
                    format!(
                        "expire(\"k\") of an absent value returned {absent:?}, expected NotFound"
                    )
                },
            )?;
            let at = from_unix(clock.now() + 5.0);
            ok("get(\"k\")", memo.get("k", || 1_u8))?;
            if lossy {
                return Ok(());
            }
            ok(
                "expire(\"k\", 10 s)",
                memo.expire("k", Duration::from_secs(10)),
            )?;
            same(
                "ttl(\"k\") after expire(10 s)",
                ok("ttl(\"k\")", memo.ttl("k"))?,
                Some(Duration::from_secs(10)),
            )?;
            ok("expire_at(\"k\", in 5 s)", memo.expire_at("k", at))?;
            same(
                "ttl(\"k\") after expire_at(in 5 s)",
                ok("ttl(\"k\")", memo.ttl("k"))?,
                Some(Duration::from_secs(5)),
            )?;
            clock.advance(Duration::from_secs(5));
            same(
                "exists(\"k\") at its new expiry",
                ok("exists(\"k\")", memo.exists("k"))?,
                false,
            )?;
            same(
                "get(\"k\") after it (a new value)",
                ok("get(\"k\")", memo.get("k", || 2_u8))?,
                2,
            )
        },
    )
}

/// The stored key is `namespace:key`, and an explicit "no namespace" on a call wins.
///
/// # Errors
/// An account of the key the record was, or was not, found under.
pub fn memoizer_namespace_prefixes_the_stored_key(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_namespace_prefixes_the_stored_key",
        harness,
        |Setup {
             fixture,
             memo,
             lossy,
             ..
         }| {
            let store = fixture.store();
            let ns = Options::new().namespace("users");
            ok(
                "get_with(\"42\", namespace users)",
                memo.get_with("42", &ns, || 1_u8),
            )?;
            let found =
                |key: &str| ok(&format!("store.get({key:?})"), store.get(key)).map(|r| r.is_some());
            ensure(lossy || found("users:42")?, || {
                "no record under \"users:42\" after get_with(\"42\", namespace users)".to_owned()
            })?;
            ensure(!found("42")?, || {
                "a record under \"42\" though the call had a namespace".to_owned()
            })?;
            same(
                "key_with(\"42\", namespace users)",
                ok("key_with", memo.key_with("42", &ns))?,
                "users:42".to_owned(),
            )?;
            let bare = ns.clone().no_namespace();
            same(
                "get_with(\"42\", no_namespace) (a value of its own)",
                ok(
                    "get_with(\"42\", no_namespace)",
                    memo.get_with("42", &bare, || 2_u8),
                )?,
                2,
            )?;
            ensure(lossy || found("42")?, || {
                "no record under \"42\" after a call with no_namespace".to_owned()
            })
        },
    )
}

/// A store given on the call (or its region) receives the record; the default store does not.
///
/// # Errors
/// An account of the store that held, or lacked, the record.
pub fn memoizer_per_call_store_is_used(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_per_call_store_is_used",
        harness,
        |Setup {
             fixture,
             memo,
             lossy,
             ..
         }| {
            let Some(other) = harness.fresh()? else {
                return Ok(());
            };
            let opts = Options::new().store_arc(other.store());
            same(
                "get_with(\"k\", store: other)",
                ok("get_with", memo.get_with("k", &opts, || 1_u8))?,
                1,
            )?;
            let in_other = ok("other.get(\"k\")", other.store().get("k"))?.is_some();
            let in_default = ok("store.get(\"k\")", fixture.store().get("k"))?.is_some();
            ensure(lossy || in_other, || {
                "the call's store holds no record under \"k\"".to_owned()
            })?;
            ensure(!in_default, || {
                "the default store holds a record written to the call's store".to_owned()
            })?;
            ok(
                "add_region",
                memo.add_region(Region::new(
                    "elsewhere",
                    Options::new().store_arc(other.store()),
                )),
            )?;
            let via_region = ok(
                "get_with(\"k\", region elsewhere)",
                memo.get_with("k", &Options::new().region("elsewhere"), || 2_u8),
            )?;
            if !lossy {
                same("get_with(\"k\") through the region's store", via_region, 1)?;
            }
            same(
                "get(\"k\") on the default store (a value of its own)",
                ok("get(\"k\")", memo.get("k", || 3_u8))?,
                3,
            )
        },
    )
}

/// `peek` never computes, and a cached `None` is a hit, not a miss.
///
/// # Errors
/// An account of the `peek` that answered wrongly.
pub fn memoizer_peek_tells_a_miss_from_a_cached_none(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_peek_tells_a_miss_from_a_cached_none",
        harness,
        |Setup { memo, lossy, .. }| {
            same(
                "peek(\"k\") before any get",
                ok("peek", memo.peek::<Option<u8>>("k"))?,
                None,
            )?;
            ok("get(\"k\")", memo.get("k", || None::<u8>))?;
            if !lossy {
                same(
                    "peek(\"k\") of a cached None",
                    ok("peek", memo.peek::<Option<u8>>("k"))?,
                    Some(None),
                )?;
            }
            same(
                "peek(\"absent\")",
                ok("peek", memo.peek::<u8>("absent"))?,
                None,
            )
        },
    )
}

/// `delete` removes exactly once; `exists` follows.
///
/// # Errors
/// An account of the call that answered wrongly.
pub fn memoizer_delete_and_exists(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_delete_and_exists",
        harness,
        |Setup { memo, lossy, .. }| {
            same(
                "exists(\"k\") before any get",
                ok("exists", memo.exists("k"))?,
                false,
            )?;
            same(
                "delete(\"k\") before any get",
                ok("delete", memo.delete("k"))?,
                false,
            )?;
            ok("get(\"k\")", memo.get("k", || 1_u8))?;
            if !lossy {
                same(
                    "exists(\"k\") after a get",
                    ok("exists", memo.exists("k"))?,
                    true,
                )?;
                same(
                    "delete(\"k\") of a present value",
                    ok("delete", memo.delete("k"))?,
                    true,
                )?;
            } else {
                ok("delete", memo.delete("k"))?;
            }
            same(
                "a second delete(\"k\")",
                ok("delete", memo.delete("k"))?,
                false,
            )?;
            same(
                "exists(\"k\") after delete",
                ok("exists", memo.exists("k"))?,
                false,
            )
        },
    )
}

/// The etag a value was computed under can be read back, through the store.
///
/// # Errors
/// An account of the etag that came back.
pub fn memoizer_stored_etag_is_readable(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_stored_etag_is_readable",
        harness,
        |Setup { memo, lossy, .. }| {
            same(
                "etag(\"k\") of a missing value",
                ok("etag", memo.etag::<u64>("k"))?,
                None,
            )?;
            ok("get(\"plain\")", memo.get("plain", || 1_u8))?;
            same(
                "etag(\"plain\") of a value computed without one",
                ok("etag", memo.etag::<u64>("plain"))?,
                None,
            )?;
            let opts = Options::new().etag(&(3_u64, "x"));
            ok(
                "get_with(\"k\", etag (3, \"x\"))",
                memo.get_with("k", &opts, || 1_u8),
            )?;
            if !lossy {
                same(
                    "etag(\"k\")",
                    ok("etag", memo.etag::<(u64, String)>("k"))?,
                    Some((3, "x".to_owned())),
                )?;
            }
            Ok(())
        },
    )
}

/// Sixteen threads asking for one cold key all get the value, computed once (the store's own
/// lock, where it has one, included).
///
/// # Errors
/// An account of the values returned or the number of computations.
pub fn memoizer_concurrent_misses_compute_once(harness: &Harness) -> Verdict {
    const THREADS: usize = 16;
    behaviour(
        "memoizer_concurrent_misses_compute_once",
        harness,
        |Setup { memo, .. }| {
            let calls = Calls::default();
            let barrier = Barrier::new(THREADS);
            let values: Vec<Result<u64, String>> = thread::scope(|scope| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            ok(
                                "get(\"cold\")",
                                memo.get("cold", || {
                                    thread::sleep(Duration::from_millis(50));
                                    calls.run(4242_u64)
                                }),
                            )
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("a thread panicked".to_owned()))
                    })
                    .collect()
            });
            let values = values.into_iter().collect::<Result<Vec<_>, _>>()?;
            same(
                "the values of 16 concurrent get(\"cold\")",
                values,
                vec![4242; THREADS],
            )?;
            same(
                "the number of computations for 16 concurrent misses",
                calls.count(),
                1,
            )
        },
    )
}

/// A hundred values written through the Memoizer each come back as their own (a lossy store
/// may make the Memoizer compute one again, never serve another's); an exact store computes
/// each once.
///
/// # Errors
/// An account of the first wrong value, or of the values computed twice.
pub fn memoizer_a_hundred_values_come_back_right(harness: &Harness) -> Verdict {
    const VALUES: u64 = 100;
    behaviour(
        "memoizer_a_hundred_values_come_back_right",
        harness,
        |Setup { memo, lossy, .. }| {
            let calls = Calls::default();
            let value = |i: u64| format!("value {i}").repeat(1 + (i % 5) as usize);
            for round in 0..2 {
                for i in 0..VALUES {
                    let key = format!("v:{i}");
                    let got = ok(
                        &format!("get({key:?})"),
                        memo.get(&key, || calls.run(value(i))),
                    )?;
                    same(&format!("get({key:?}) in round {round}"), got, value(i))?;
                }
            }
            ensure(lossy || calls.count() == VALUES as usize, || {
                format!(
                    "{} of the {VALUES} values were computed again in the second round, though the \
                     store is not lossy",
                    calls.count() - VALUES as usize
                )
            })
        },
    )
}

/// A value written through the Memoizer is a hit after the store is reopened (persistent
/// harnesses; a volatile one has nothing to reopen).
///
/// # Errors
/// An account of the value lost or changed by the reopen.
pub fn memoizer_values_survive_a_reopen(harness: &Harness) -> Verdict {
    if !harness.is_persistent() {
        return Ok(());
    }
    behaviour(
        "memoizer_values_survive_a_reopen",
        harness,
        |Setup {
             mut fixture,
             memo,
             clock,
             lossy,
         }| {
            let opts = Options::new().max_age(MINUTE).etag(&7_u32);
            ok(
                "get_with(\"kept\")",
                memo.get_with("kept", &opts, || "computed before".to_owned()),
            )?;
            drop(memo);
            fixture.reopen()?;
            let memo = Memoizer::builder_arc(fixture.store())
                .clock(clock.clone())
                .build();
            let calls = Calls::default();
            let got = ok(
                "get_with(\"kept\") after the reopen",
                memo.get_with("kept", &opts, || calls.run("computed after".to_owned())),
            )?;
            if !lossy {
                same(
                    "get_with(\"kept\") after the reopen",
                    got,
                    "computed before".to_owned(),
                )?;
                same(
                    "ttl(\"kept\") after the reopen",
                    ok("ttl", memo.ttl("kept"))?,
                    Some(MINUTE),
                )?;
            }
            Ok(())
        },
    )
}

/// Clearing a namespace removes its records and no others (stores with scan); a store without
/// scan answers `Unsupported`.
///
/// # Errors
/// An account of the records left or removed wrongly.
pub fn memoizer_clear_removes_only_the_namespace(harness: &Harness) -> Verdict {
    behaviour(
        "memoizer_clear_removes_only_the_namespace",
        harness,
        |Setup {
             fixture,
             memo,
             lossy,
             ..
         }| {
            let a = Options::new().namespace("a");
            let ab = Options::new().namespace("ab");
            for i in 0..5 {
                ok(
                    "get_with(namespace a)",
                    memo.get_with(&i.to_string(), &a, || i),
                )?;
            }
            ok(
                "get_with(\"0\", namespace ab)",
                memo.get_with("0", &ab, || 9),
            )?;
            ok("get(\"a\")", memo.get("a", || 9))?;
            if !fixture.store().capabilities().scan {
                let cleared = memo.clear_with(&a);
                return ensure(matches!(cleared, Err(Error::Unsupported { .. })), || {
                    format!(
                        "clear_with(namespace a) without scan returned {cleared:?}, expected \
                         Unsupported"
                    )
                });
            }
            let cleared = ok("clear_with(namespace a)", memo.clear_with(&a))?;
            ensure(cleared == 5 || (lossy && cleared < 5), || {
                format!(
                    "clear_with(namespace a) removed {cleared} records, expected the 5 of \
                     namespace a"
                )
            })?;
            same(
                "exists_with(\"3\", namespace a) after the clear",
                ok("exists", memo.exists_with("3", &a))?,
                false,
            )?;
            if !lossy {
                same(
                    "exists_with(\"0\", namespace ab) after clearing a",
                    ok("exists", memo.exists_with("0", &ab))?,
                    true,
                )?;
                same(
                    "exists(\"a\") after clearing namespace a",
                    ok("exists", memo.exists("a"))?,
                    true,
                )?;
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_shows_both_sides_bounded() {
        let why = same("get(\"k\")", "x".repeat(10_000), "y".to_owned()).unwrap_err();
        assert!(why.starts_with("get(\"k\") was \"xxx"), "{why}");
        assert!(why.contains("(10000 bytes)"), "{why}");
        assert!(why.ends_with("expected \"y\""), "{why}");
        assert!(why.len() < 200, "{why}");
    }
}
