//! Keys: readable and fixed, order-free for hash collections, by value for references.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, memoize};
use serde::Serialize;

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

static KEYS: Fixture = LazyLock::new(memoizer);

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Serialize)]
enum Unit {
    Kg,
    Pieces(u8),
}

#[memoize(KEYS.0)]
fn quote(item: &str, qty: u32, unit: Unit, at: Option<Point>, tags: Vec<char>) -> f64 {
    let _ = (item, unit, at, tags);
    f64::from(qty) * 1.5
}

#[memoize(KEYS.0, key = "pricing::quote")]
fn renamed(item: &str) -> usize {
    item.len()
}

#[memoize(KEYS.0)]
fn nothing() -> u8 {
    1
}

#[test]
fn the_key_of_a_call_is_fixed_readable_text() {
    assert_eq!(
        quote::key(
            "apple",
            3,
            Unit::Kg,
            Some(Point { x: 1, y: -2 }),
            vec!['a', '"']
        )
        .unwrap(),
        r#"it::keys::quote("apple", 3, Kg, Some(Point { x: 1, y: -2 }), ['a', '"'])"#
    );
    assert_eq!(
        quote::key("a\"b", 0, Unit::Pieces(6), None, vec![]).unwrap(),
        r#"it::keys::quote("a\"b", 0, Pieces(6), None, [])"#
    );
    assert_eq!(renamed::key("pear").unwrap(), r#"pricing::quote("pear")"#);
    assert_eq!(nothing::key().unwrap(), "it::keys::nothing()");
}

#[memoize(KEYS.0)]
fn pair(a: &str, b: &str) -> String {
    format!("{a}|{b}")
}

#[test]
fn distinct_arguments_never_share_a_key() {
    let calls = [("a, b", ""), ("a", " b"), ("a\", \"b", ""), ("", "a, b")];
    let keys: HashSet<String> = calls
        .iter()
        .map(|(a, b)| pair::key(a, b).unwrap())
        .collect();
    assert_eq!(keys.len(), calls.len(), "{keys:?}");
    for (a, b) in calls {
        assert_eq!(pair(a, b), format!("{a}|{b}"));
    }
}

static MAPS: Fixture = LazyLock::new(memoizer);
static MAP_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(MAPS.0)]
fn total(prices: HashMap<String, u32>) -> u32 {
    MAP_CALLS.fetch_add(1, Ordering::SeqCst);
    prices.values().sum()
}

#[test]
fn hash_map_arguments_give_one_key_whatever_their_insertion_order() {
    let forward: HashMap<String, u32> = (0..200).map(|i| (format!("item{i}"), i)).collect();
    let mut backward = HashMap::new();
    for i in (0..200).rev() {
        backward.insert(format!("item{i}"), i);
    }
    assert_eq!(
        total::key(forward.clone()).unwrap(),
        total::key(backward.clone()).unwrap()
    );
    assert_eq!(total(forward), 19_900);
    assert_eq!(total(backward), 19_900);
    assert_eq!(MAP_CALLS.load(Ordering::SeqCst), 1);
}

static SETS: Fixture = LazyLock::new(memoizer);
static SET_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(SETS.0)]
fn members(tags: HashSet<String>, banned: &HashSet<u64>) -> usize {
    SET_CALLS.fetch_add(1, Ordering::SeqCst);
    tags.len() + banned.len()
}

#[test]
fn hash_set_arguments_give_one_key_whatever_their_insertion_order() {
    let tags: HashSet<String> = (0..100).map(|i| format!("t{i}")).collect();
    let mut tags_backward = HashSet::new();
    for i in (0..100).rev() {
        tags_backward.insert(format!("t{i}"));
    }
    let banned: HashSet<u64> = (0..100).collect();
    let banned_backward: HashSet<u64> = (0..100).rev().collect();
    // Two sets of 100 items built apart almost never iterate alike; the keys must still agree.
    let key = members::key(tags.clone(), &banned).unwrap();
    assert_eq!(
        key,
        members::key(tags_backward.clone(), &banned_backward).unwrap()
    );
    assert!(
        key.starts_with(r#"it::keys::members(["t0", "t1", "t10", "#),
        "{key}"
    );
    assert!(key.ends_with("97, 98, 99])"), "{key}");
    assert_eq!(members(tags, &banned), 200);
    assert_eq!(members(tags_backward, &banned_backward), 200);
    assert_eq!(SET_CALLS.load(Ordering::SeqCst), 1);
}

static REFS: Fixture = LazyLock::new(memoizer);
static REF_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(REFS.0)]
fn describe(name: &str, values: &[i64], origin: &Point, index: &BTreeMap<u8, &str>) -> String {
    REF_CALLS.fetch_add(1, Ordering::SeqCst);
    format!(
        "{name}:{}:{}:{}",
        values.len(),
        origin.x + origin.y,
        index.len()
    )
}

#[test]
fn reference_arguments_are_keyed_by_value() {
    let index = BTreeMap::from([(1, "one")]);
    let first = describe(
        &String::from("v"),
        &Vec::from([1, 2, 3]),
        &Point { x: 1, y: 2 },
        &index,
    );
    // Equal values at other addresses.
    let index_again = BTreeMap::from([(1, "one")]);
    let again = describe(
        String::from("v").as_str(),
        vec![1, 2, 3].as_slice(),
        &Point { x: 1, y: 2 },
        &index_again,
    );
    assert_eq!(first, again);
    assert_eq!(REF_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(
        describe::key("v", &[1, 2, 3], &Point { x: 1, y: 2 }, &index).unwrap(),
        r#"it::keys::describe("v", [1, 2, 3], Point { x: 1, y: 2 }, {1: "one"})"#
    );
    describe("v", &[1, 2, 4], &Point { x: 1, y: 2 }, &index);
    assert_eq!(REF_CALLS.load(Ordering::SeqCst), 2);
}

static PATTERNS: Fixture = LazyLock::new(memoizer);

#[memoize(PATTERNS.0)]
fn span((start, end): (u32, u32), _: u8, mut step: u32) -> u32 {
    step = step.max(1);
    (end - start) / step
}

#[test]
fn pattern_and_unnamed_arguments_are_keyed_too() {
    assert_eq!(span((2, 12), 0, 0), 10);
    assert_eq!(
        span::key((2, 12), 9, 5).unwrap(),
        "it::keys::span((2, 12), 9, 5)"
    );
    assert!(span::exists((2, 12), 0, 0).unwrap());
    assert!(!span::exists((2, 12), 1, 0).unwrap());
}

#[test]
fn a_function_local_memoized_function_keys_under_the_module() {
    #[memoize(KEYS.0)]
    fn local(x: u8) -> u8 {
        x + 1
    }
    assert_eq!(local(1), 2);
    assert!(local::exists(1).unwrap());
    assert_eq!(local::key(1).unwrap(), "it::keys::local(1)");
}
