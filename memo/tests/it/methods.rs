//! Methods: `self` in the key through the key writer, or skipped; a Memoizer from a field.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, memoize};
use serde::{Deserialize, Serialize};

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

static SHAPES: Fixture = LazyLock::new(memoizer);
static AREA_CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rect {
    w: u64,
    h: u64,
}

impl Rect {
    #[memoize(SHAPES.0)]
    fn area(&self) -> u64 {
        AREA_CALLS.fetch_add(1, Ordering::SeqCst);
        self.w * self.h
    }

    #[memoize(SHAPES.0, namespace = "scaled")]
    fn scaled(&self, by: u64) -> Rect {
        Rect {
            w: self.w * by,
            h: self.h * by,
        }
    }

    #[memoize(SHAPES.0)]
    fn square(side: u64) -> Self {
        Rect { w: side, h: side }
    }

    #[memoize(SHAPES.0, associated)]
    fn unit_area(side: u64) -> u64 {
        side * side
    }
}

#[test]
fn self_is_part_of_the_key() {
    let a = Rect { w: 2, h: 3 };
    assert_eq!(a.area(), 6);
    assert_eq!(a.clone().area(), 6);
    assert_eq!(AREA_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(Rect { w: 3, h: 2 }.area(), 6);
    assert_eq!(AREA_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(
        a.area_key().unwrap(),
        "it::methods::Rect::area(Rect { w: 2, h: 3 })"
    );
    assert!(a.area_exists().unwrap());
    assert!(a.area_delete().unwrap());
    assert!(!a.area_exists().unwrap());
    assert_eq!(a.area_uncached(), 6);
}

#[test]
fn methods_take_arguments_and_options() {
    let a = Rect { w: 1, h: 2 };
    assert_eq!(a.scaled(3), Rect { w: 3, h: 6 });
    assert_eq!(
        a.scaled_key(3).unwrap(),
        "scaled:it::methods::Rect::scaled(Rect { w: 1, h: 2 }, 3)"
    );
    assert!(a.scaled_exists(3).unwrap());
    assert!(!a.scaled_exists(4).unwrap());
}

#[test]
fn associated_functions_are_keyed_under_the_type() {
    assert_eq!(Rect::square(4), Rect { w: 4, h: 4 });
    assert_eq!(Rect::square_key(4).unwrap(), "it::methods::Rect::square(4)");
    assert!(Rect::square_exists(4).unwrap());
    assert_eq!(Rect::unit_area(5), 25);
    assert_eq!(
        Rect::unit_area_key(5).unwrap(),
        "it::methods::Rect::unit_area(5)"
    );
    assert!(Rect::unit_area_exists(5).unwrap());
}

/// A service that is not serializable: it keeps its own Memoizer and leaves itself out of keys.
struct Directory {
    memo: Memoizer,
    store: Arc<MemStore>,
    lookups: AtomicUsize,
}

impl Directory {
    fn new() -> Self {
        let store = Arc::new(MemStore::new());
        Directory {
            memo: Memoizer::new(store.clone()),
            store,
            lookups: AtomicUsize::new(0),
        }
    }

    #[memoize(self.memo, skip(self))]
    fn lookup(&self, id: u32) -> String {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        format!("entry {id}")
    }
}

#[test]
fn self_can_be_skipped_and_give_the_memoizer() {
    let directory = Directory::new();
    assert_eq!(directory.lookup(7), "entry 7");
    assert_eq!(directory.lookup(7), "entry 7");
    assert_eq!(directory.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(
        directory.lookup_key(7).unwrap(),
        "it::methods::Directory::lookup(7)"
    );
    assert_eq!(directory.store.len(), 1);
    // Another instance has its own Memoizer, so its own cache.
    let other = Directory::new();
    assert!(!other.lookup_exists(7).unwrap());
}

/// Generic types key each instantiation apart through the type's name.
#[derive(Serialize)]
struct Wrapper<T>(T);

static GENERIC: Fixture = LazyLock::new(memoizer);

impl<T: Serialize + Copy + Into<u64>> Wrapper<T> {
    #[memoize(GENERIC.0)]
    fn doubled(&self) -> u64 {
        self.0.into() * 2
    }
}

#[test]
fn methods_of_generic_types_key_each_instantiation_apart() {
    assert_eq!(Wrapper(3_u8).doubled(), 6);
    assert_eq!(Wrapper(3_u32).doubled(), 6);
    assert_ne!(
        Wrapper(3_u8).doubled_key().unwrap(),
        Wrapper(3_u32).doubled_key().unwrap()
    );
    assert_eq!(GENERIC.1.len(), 2);
}
