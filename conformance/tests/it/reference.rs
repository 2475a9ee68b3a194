//! A correct `Mutex<HashMap>` store passes the whole suite.

use memo_conformance::Harness;
use memo_core::doc_store::DocStore;

fn harness() -> Harness {
    Harness::new(DocStore::default)
}

memo_conformance::suite!(harness);
