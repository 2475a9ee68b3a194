//! End-to-end tests of the `memo` binary: real processes over real redb files in temp
//! directories and a real `redis-server` (`MEMO_REDIS_URL`; without it the Redis tests skip, or
//! fail under `CI=true`).

mod concurrent;
mod exec;
mod inspect;
mod support;
