//! Correct stores pass: the whole suite on exact `Mutex<HashMap>` stores and on a persistent
//! one kept in a file, and every store property on a lossy store that forgets.

/// The store properties alone, as `suite!` lists them.
macro_rules! properties {
    ($harness:path) => {
        memo_conformance::__property_tests!($harness;
            get_after_set_returns_same_record,
            set_overwrites_previous_record,
            delete_returns_true_then_false,
            get_after_delete_is_none,
            delete_of_absent_key_is_false,
            any_string_key_works,
            keys_that_are_prefixes_never_collide,
            values_up_to_16_mib_work,
            ttl_never_over_reports,
            native_expiry_never_removes_a_record_early,
            concurrent_threads_keep_written_records,
            scan_returns_exactly_the_matching_keys,
            purge_expired_removes_only_expired_records,
            random_operations_match_a_model,
            reopen_keeps_every_record,
        );
    };
}

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
        properties!(super::harness);
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
