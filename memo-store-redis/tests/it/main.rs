//! Integration tests of `memo-store-redis` against a real `redis-server` (see the README's
//! Tests section): `MEMO_REDIS_URL` names it; without it the tests skip, or fail under `CI=true`.

mod aio;
mod deadline;
mod faults;
mod hostile;
mod lock;
mod pool;
mod processes;
mod round_trips;
mod store;
mod support;

/// Every fresh store of the suite lives under its own random key prefix on the shared server.
///
/// The store says it is lossy because a Redis with `maxmemory` evicts; the test servers have no
/// `maxmemory`, so the suite checks the store as exact.
fn harness() -> memo_conformance::Harness {
    match support::server() {
        Ok(url) => memo_conformance::Harness::new(move || support::store(&url)).lossy(false),
        Err(why) => memo_conformance::Harness::unavailable(why),
    }
}

memo_conformance::suite!(harness);
