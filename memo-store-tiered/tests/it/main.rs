//! Integration tests of `memo-store-tiered`: the conformance kit over three pairs of real
//! stores (and write-behind), a warm restart across processes, a bounded front, a 10 s
//! concurrency model, a failing Redis back, and the staleness window between two processes.
//!
//! Tests that need Redis read `MEMO_REDIS_URL`; without a server they skip, or fail under
//! `CI=true`.

mod behind;
mod concurrency;
mod faults;
mod promotion;
mod restart;
mod staleness;
mod support;
mod working_set;

/// Room for every record the suite writes at once, so the LRU front never evicts a record
/// the back lost (it cannot: the back keeps everything).
const LRU_CAPACITY: usize = 64;

/// Above the suite's largest values (16 MiB), with room for the rest.
const MOKA_MAX_BYTES: u64 = 64 << 20;

/// (`MemStore`, `MemStore`): the plainest pair.
mod mem_over_mem {
    use memo_conformance::Harness;
    use memo_store_mem::MemStore;
    use memo_store_tiered::TieredStore;

    fn harness() -> Harness {
        Harness::new(|| TieredStore::new(MemStore::new(), MemStore::new()).expect("a store"))
    }

    memo_conformance::suite!(harness);
}

/// (`LruStore`, `RedbStore`): a small front evicting over a persistent back; reopening drops
/// the front and keeps the file.
mod lru_over_redb {
    use memo_conformance::Harness;
    use memo_store_mem::LruStore;
    use memo_store_redb::RedbStore;
    use memo_store_tiered::TieredStore;

    fn harness() -> Harness {
        Harness::persistent(|dir| {
            let back = RedbStore::open(dir.join("cache.redb"))?;
            TieredStore::new(LruStore::with_capacity(super::LRU_CAPACITY), back)
        })
    }

    memo_conformance::suite!(harness);
}

/// (`MokaStore`, `RedisStore`): a per-process cache over a shared one, each fresh store under
/// its own key prefix. Redis says it is lossy (`maxmemory`); the test server has no limit, so
/// the suite checks the pair as exact.
mod moka_over_redis {
    use memo_conformance::Harness;
    use memo_store_mem::MokaStore;
    use memo_store_tiered::TieredStore;

    use crate::support;

    fn harness() -> Harness {
        match support::server() {
            Ok(url) => Harness::new(move || {
                let front = MokaStore::with_max_bytes(super::MOKA_MAX_BYTES).expect("a budget");
                let back = support::redis_store(&url, &support::unique_prefix());
                TieredStore::new(front, back).expect("a store")
            })
            .lossy(false),
            Err(why) => Harness::unavailable(why),
        }
    }

    memo_conformance::suite!(harness);
}

/// (`LruStore`, `RedbStore`) in write-behind mode: reads see queued writes, and dropping the
/// store (the kit's reopen) drains the queue into the file.
mod lru_over_redb_write_behind {
    use memo_conformance::Harness;
    use memo_store_mem::LruStore;
    use memo_store_redb::RedbStore;
    use memo_store_tiered::TieredStore;

    fn harness() -> Harness {
        Harness::persistent(|dir| {
            let back = RedbStore::open(dir.join("cache.redb"))?;
            TieredStore::builder(LruStore::with_capacity(super::LRU_CAPACITY), back)
                .write_behind(1_024)
                .build()
        })
        .cases(32)
    }

    memo_conformance::suite!(harness);
}
