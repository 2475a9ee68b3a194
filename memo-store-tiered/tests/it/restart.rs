//! Warm restart: a Memoizer over Moka in front of redb computes in one process; the next
//! process is served from the file, then from memory without touching the file.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use memo_core::Memoizer;
use memo_store_mem::MokaStore;
use memo_store_redb::RedbStore;
use memo_store_tiered::TieredStore;

use crate::support;

const TEST: &str = "restart::a_new_process_is_served_from_redb_then_from_memory";
const KEY: &str = "report(2024)";

fn open(path: &Path) -> (Arc<TieredStore<MokaStore, RedbStore>>, Memoizer) {
    let front = MokaStore::with_max_bytes(1 << 20).unwrap();
    let store = Arc::new(TieredStore::new(front, RedbStore::open(path).unwrap()).unwrap());
    let memo = Memoizer::new(store.clone());
    (store, memo)
}

fn compute_child(path: &Path) {
    let (store, memo) = open(path);
    let v: String = memo.get(KEY, || "computed once".to_owned()).unwrap();
    assert_eq!(v, "computed once");
    assert_eq!(memo.stats().computations, 1);
    assert_eq!(store.stats().misses, 1);
    // The process ends normally: the store is dropped and redb makes its writes durable.
}

fn serve_child(path: &Path) {
    let (store, memo) = open(path);
    let v: String = memo.get(KEY, || panic!("computed again")).unwrap();
    assert_eq!(v, "computed once");
    let first = store.stats();
    assert_eq!((first.back_hits, first.front_hits), (1, 0), "{first:?}");
    assert_eq!(first.promotions, 1);
    let v: String = memo.get(KEY, || panic!("computed again")).unwrap();
    assert_eq!(v, "computed once");
    let second = store.stats();
    // The second read did not reach the back.
    assert_eq!((second.back_hits, second.front_hits), (1, 1), "{second:?}");
    assert_eq!(memo.stats().computations, 0);
    println!("served: back then front");
}

#[test]
fn a_new_process_is_served_from_redb_then_from_memory() {
    if let Some(role) = support::child_role() {
        let path = support::child_arg();
        match role.as_str() {
            "compute" => compute_child(Path::new(&path)),
            "serve" => serve_child(Path::new(&path)),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let path = path.to_str().unwrap();
    for role in ["compute", "serve"] {
        let mut child = support::child(TEST, role, path).spawn().unwrap();
        drop(child.stdin.take());
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "the {role} process failed: {status}");
        if role == "serve" {
            assert!(out.contains("served: back then front"), "{out}");
        }
    }
}
