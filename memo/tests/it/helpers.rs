//! The generated helpers reach the entry of the given arguments, with the decorator's options.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, Options, Region, Store, memoize};

/// A Memoizer whose region "users" keeps records in a store of its own, so that a helper that
/// ignored the decorator's region would look in the wrong store.
struct Fixture {
    memo: Memoizer,
    default_store: Arc<MemStore>,
    region_store: Arc<MemStore>,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    let default_store = Arc::new(MemStore::new());
    let region_store = Arc::new(MemStore::new());
    let clock = ManualClock::new();
    let memo = Memoizer::builder(default_store.clone())
        .clock(clock.clone())
        .build();
    memo.add_region(Region::new(
        "users",
        Options::new().store(region_store.clone()),
    ))
    .unwrap();
    Fixture {
        memo,
        default_store,
        region_store,
        clock,
    }
}

static USERS: LazyLock<Fixture> = LazyLock::new(fixture);
static NAME_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(USERS.memo, region = "users", namespace = "u", max_age = 600, etag = 3_u32)]
fn user_name(id: u32) -> String {
    NAME_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("user {id}")
}

#[test]
fn helpers_reach_the_entry_of_the_given_arguments_through_the_decorators_options() {
    let f = &*USERS;
    assert!(!user_name::exists(7).unwrap());
    assert_eq!(user_name::ttl(7).unwrap(), None);
    assert_eq!(user_name::etag::<u32>(7).unwrap(), None);

    assert_eq!(user_name(7), "user 7");
    assert_eq!(user_name(8), "user 8");
    let key = user_name::key(7).unwrap();
    assert_eq!(key, "u:it::helpers::user_name(7)");
    assert!(f.region_store.get(&key).unwrap().is_some());
    assert!(f.default_store.is_empty());

    assert!(user_name::exists(7).unwrap());
    assert_eq!(user_name::ttl(7).unwrap(), Some(Duration::from_secs(600)));
    assert_eq!(user_name::etag::<u32>(7).unwrap(), Some(3));

    user_name::expire(7, Duration::from_secs(5)).unwrap();
    assert_eq!(user_name::ttl(7).unwrap(), Some(Duration::from_secs(5)));
    f.clock.advance(Duration::from_secs(6));
    assert!(!user_name::exists(7).unwrap());
    assert!(matches!(
        user_name::expire(7, Duration::from_secs(5)),
        Err(memo::Error::NotFound { key: k }) if k == key
    ));

    user_name::expire_at(8, memo::from_unix(f.clock_now())).unwrap();
    assert!(!user_name::exists(8).unwrap());

    assert_eq!(user_name(7), "user 7");
    assert_eq!(NAME_CALLS.load(Ordering::SeqCst), 3);
    assert!(user_name::delete(7).unwrap());
    assert!(!user_name::delete(7).unwrap());
    assert!(!user_name::exists(7).unwrap());
    // Another argument's entry is untouched by the helpers of this one.
    assert!(
        f.region_store
            .get("u:it::helpers::user_name(8)")
            .unwrap()
            .is_some()
    );
}

impl Fixture {
    fn clock_now(&self) -> f64 {
        memo::Clock::now(&self.clock)
    }
}

static SKIPPING: LazyLock<Fixture> = LazyLock::new(fixture);

#[memoize(SKIPPING.memo, skip(trace))]
fn report(day: u16, trace: bool) -> String {
    if trace {
        format!("day {day} (traced)")
    } else {
        format!("day {day}")
    }
}

#[test]
fn helpers_leave_skipped_arguments_out_as_the_call_does() {
    assert_eq!(report(3, false), "day 3");
    assert_eq!(report(3, true), "day 3");
    assert!(report::exists(3, true).unwrap());
    assert_eq!(report::key(3, false).unwrap(), "it::helpers::report(3)");
    assert_eq!(report::uncached(3, true), "day 3 (traced)");
}
