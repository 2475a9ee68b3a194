//! Integration tests of the in-memory stores: the conformance suite for each, and
//! single-flight under real threads.

mod single_flight;

/// Room for every record the suite writes at once, so the LRU store is checked as exact.
const LRU_CAPACITY: usize = 4_096;

/// Above the suite's largest values (16 MiB), with room for the rest.
const MOKA_MAX_BYTES: u64 = 64 << 20;

mod mem {
    use memo_conformance::Harness;
    use memo_store_mem::MemStore;

    fn harness() -> Harness {
        Harness::new(MemStore::new)
    }

    memo_conformance::suite!(harness);
}

mod lru {
    use memo_conformance::Harness;
    use memo_store_mem::LruStore;

    fn harness() -> Harness {
        Harness::new(|| LruStore::with_capacity(super::LRU_CAPACITY)).lossy(false)
    }

    memo_conformance::suite!(harness);
}

mod moka {
    use memo_conformance::Harness;
    use memo_store_mem::MokaStore;

    fn harness() -> Harness {
        Harness::new(|| {
            MokaStore::with_max_bytes(super::MOKA_MAX_BYTES).expect("a non-zero budget is valid")
        })
    }

    memo_conformance::suite!(harness);
}
