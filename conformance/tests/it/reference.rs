//! Correct stores pass: the whole suite on exact `Mutex<HashMap>` stores, on the kit's
//! reference store in memory and kept in a file, and every store property on a lossy store that
//! forgets.

/// memo-core's minimal store: the three required methods, every default.
mod minimal {
    use memo_conformance::Harness;
    use memo_core::doc_store::DocStore;

    fn harness() -> Harness {
        Harness::new(DocStore::default).cases(32)
    }

    memo_conformance::suite!(harness);
}

/// An exact store with scan and purge.
mod full {
    use crate::stores::MapStore;
    use memo_conformance::Harness;

    fn harness() -> Harness {
        Harness::new(MapStore::default).cases(32)
    }

    memo_conformance::suite!(harness);
}

/// A store that forgets every third record it is given, and says so.
mod lossy {
    use crate::stores::Forgetful;
    use memo_conformance::Harness;

    fn harness() -> Harness {
        Harness::new(|| Forgetful::new(3, true)).cases(32)
    }

    memo_conformance::suite!(harness);
}

/// The store properties alone, through the public macro.
mod store_only {
    use crate::stores::Forgetful;
    use memo_conformance::Harness;

    fn harness() -> Harness {
        Harness::new(|| Forgetful::new(5, true)).cases(8)
    }

    memo_conformance::store_suite!(harness);
}

/// The kit's reference store, in memory.
mod in_memory {
    use memo_conformance::Harness;
    use memo_conformance::reference::ReferenceStore;

    fn harness() -> Harness {
        Harness::new(ReferenceStore::new).cases(32)
    }

    memo_conformance::suite!(harness);
}

/// The kit's reference store, kept in a file in its directory.
mod in_file {
    use memo_conformance::Harness;
    use memo_conformance::reference::ReferenceStore;

    fn harness() -> Harness {
        Harness::persistent(|dir| ReferenceStore::open(dir.join("records"))).cases(16)
    }

    memo_conformance::suite!(harness);
}
