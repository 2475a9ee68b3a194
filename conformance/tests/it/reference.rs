//! Correct stores pass: the whole suite on exact `Mutex<HashMap>` stores and on a persistent
//! one kept in a file, and every store property on a lossy store that forgets.

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

    // Only the store properties: the Memoizer behaviours assume a store that keeps the few
    // records they write, and this one forgets every third.
    mod conformance {
        memo_conformance::__store_suite!(super::harness);
    }
}

/// A store that writes its records to one file in its directory, and reads them back on open.
mod persistent {
    use crate::stores::FileStore;
    use memo_conformance::Harness;

    fn harness() -> Harness {
        Harness::persistent(FileStore::open).cases(16)
    }

    memo_conformance::suite!(harness);
}
