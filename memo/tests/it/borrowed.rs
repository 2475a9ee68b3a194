//! Helpers take borrowed forms of the arguments the function takes by value, and reach the
//! same record as the call.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, Options, Store, memoize};
use serde::Serialize;

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

static OWNED: Fixture = LazyLock::new(memoizer);
static FETCHES: AtomicUsize = AtomicUsize::new(0);

#[memoize(OWNED.0, namespace = "web", max_age = 60, etag = 2_u8)]
fn fetch(url: String, ids: Vec<u32>, path: PathBuf, retries: u8) -> usize {
    FETCHES.fetch_add(1, Ordering::SeqCst);
    url.len() + ids.len() + path.as_os_str().len() + usize::from(retries)
}

const URL: &str = "https://example.com/a \"quoted\", path";

fn fetches() -> usize {
    FETCHES.load(Ordering::SeqCst)
}

#[test]
fn borrowed_arguments_give_the_key_of_the_owned_call() {
    let owned = fetch::key(URL.to_owned(), vec![1, 2], PathBuf::from("/srv/a"), 3).unwrap();
    let ids = vec![1, 2];
    let path = PathBuf::from("/srv/a");
    let url = URL.to_owned();
    assert_eq!(
        fetch::key(URL, &[1, 2], Path::new("/srv/a"), 3).unwrap(),
        owned
    );
    let retries: u8 = 3;
    #[expect(
        clippy::needless_borrows_for_generic_args,
        reason = "the `&T` form for a `T` is under test"
    )]
    let by_reference = fetch::key(URL, ids.as_slice(), &path, &retries).unwrap();
    assert_eq!(by_reference, owned);
    assert_eq!(fetch::key(&url, &ids, path.as_path(), 3).unwrap(), owned);
    assert_eq!(
        owned,
        r#"web:it::borrowed::fetch("https://example.com/a \"quoted\", path", [1, 2], "/srv/a", 3)"#
    );
    // A borrowed argument of another value keys apart.
    assert_ne!(
        fetch::key(URL, &[2, 1], Path::new("/srv/a"), 3).unwrap(),
        owned
    );
}

#[test]
fn every_helper_reaches_the_record_of_the_owned_call_through_borrowed_arguments() {
    let (memo, store, clock) = &*OWNED;
    let ids = [7_u32, 8, 9];
    let path = Path::new("/srv/b");
    assert!(!fetch::exists(URL, &ids, path, 0).unwrap());
    let value = fetch(URL.to_owned(), ids.to_vec(), path.to_path_buf(), 0);
    assert_eq!(fetches(), 1);

    let key = fetch::key(URL, &ids, path, 0).unwrap();
    assert!(store.get(&key).unwrap().is_some());
    assert!(fetch::exists(URL, &ids, path, 0).unwrap());
    assert_eq!(fetch::etag::<u8>(URL, &ids, path, 0).unwrap(), Some(2));
    assert_eq!(
        fetch::ttl(URL, &ids, path, 0).unwrap(),
        Some(Duration::from_secs(60))
    );
    fetch::expire(URL, &ids, path, 0, Duration::from_secs(5)).unwrap();
    assert_eq!(
        fetch::ttl(URL, &ids, path, 0).unwrap(),
        Some(Duration::from_secs(5))
    );
    let soon = memo::from_unix(memo::Clock::now(clock) + 2.0);
    fetch::expire_at(URL, &ids, path, 0, soon).unwrap();
    assert_eq!(
        fetch::ttl(URL, &ids, path, 0).unwrap(),
        Some(Duration::from_secs(2))
    );

    // call_with with borrowed arguments is a hit on the owned call's record.
    let same = Options::new();
    assert_eq!(fetch::call_with(&same, URL, &ids, path, 0), value);
    assert_eq!(fetches(), 1);
    assert_eq!(memo.stats().hits, 1);

    assert!(fetch::delete(URL, &ids, path, 0).unwrap());
    assert!(!fetch::exists(URL, &ids, path, 0).unwrap());
    // The uncached original takes them too, cloning into the owned arguments.
    assert_eq!(fetch::uncached(URL, &ids, path, 0), value);
    assert_eq!(fetches(), 2);
    // call_with on a miss converts the borrowed arguments and stores under the call's key.
    assert_eq!(fetch::call_with(&same, URL, &ids, path, 0), value);
    assert_eq!(fetches(), 3);
    assert_eq!(
        fetch(URL.to_owned(), ids.to_vec(), path.to_path_buf(), 0),
        value
    );
    assert_eq!(fetches(), 3);
}

static SETS: Fixture = LazyLock::new(memoizer);

#[memoize(SETS.0)]
fn tagged(tags: HashSet<String>) -> usize {
    tags.len()
}

#[test]
fn a_borrowed_hash_set_is_keyed_unordered_like_the_owned_one() {
    let forward: HashSet<String> = (0..50).map(|i| format!("t{i}")).collect();
    let mut backward = HashSet::new();
    for i in (0..50).rev() {
        backward.insert(format!("t{i}"));
    }
    assert_eq!(
        tagged::key(&backward).unwrap(),
        tagged::key(forward.clone()).unwrap()
    );
    assert_eq!(tagged(forward), 50);
    assert!(tagged::exists(&backward).unwrap());
}

/// Not `Serialize`: it can only be a skipped argument.
struct Trace(bool);

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Page {
    title: String,
}

static METHODS: Fixture = LazyLock::new(memoizer);

impl Page {
    #[memoize(METHODS.0, skip(trace))]
    fn render(&self, lang: String, trace: Trace) -> String {
        if trace.0 {
            format!("{}:{lang} (traced)", self.title)
        } else {
            format!("{}:{lang}", self.title)
        }
    }
}

#[test]
fn method_helpers_take_borrowed_arguments_and_skipped_ones_as_written() {
    let page = Page {
        title: "home".to_owned(),
    };
    assert_eq!(page.render("fr".to_owned(), Trace(false)), "home:fr");
    assert!(page.render_exists("fr", Trace(true)).unwrap());
    assert_eq!(
        page.render_key("fr", Trace(false)).unwrap(),
        page.render_key("fr".to_owned(), Trace(false)).unwrap()
    );
    assert_eq!(page.render_uncached("fr", Trace(true)), "home:fr (traced)");
}
