//! Redis client-side caching in broadcast mode: a dedicated RESP3 connection asks Redis to
//! push an `invalidate` message for every change of a key under the back's prefix, and the
//! front drops the key when the message arrives.

use std::sync::atomic::Ordering;
use std::time::Duration;

use memo_core::{Error, Result, Store};
use redis::{IntoConnectionInfo, ProtocolVersion, PushKind, Value};

use crate::stats::Counter;
use crate::store::Core;

/// How often the reader looks up from the socket to see whether the store was dropped.
const POLL: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

pub(crate) struct Tracker {
    client: redis::Client,
    prefix: Vec<u8>,
}

impl Tracker {
    pub(crate) fn new(url: &str, prefix: Vec<u8>) -> Result<Self> {
        let bad = |e: redis::RedisError| Error::Config(format!("invalid Redis URL {url:?}: {e}"));
        let info = url.into_connection_info().map_err(bad)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(bad)?;
        Ok(Tracker { client, prefix })
    }

    /// The tracking thread's loop: subscribe, drop invalidated keys, resubscribe after a
    /// failure; returns when the store is dropped.
    pub(crate) fn run<F: Store>(&self, front: &F, core: &Core) {
        let mut pause = FIRST_PAUSE;
        loop {
            let outcome = self.session(front, core, &mut pause);
            // Notices may have been missed: nothing taken from the back can be trusted now.
            // Dropped before the flag falls, so that whoever sees it down sees the front
            // emptied of back records.
            core.drop_all_resident(front);
            core.tracking.store(false, Ordering::Release);
            match outcome {
                Ok(()) => return,
                Err(error) => tracing::warn!(
                    %error,
                    "memo-tiered: the Redis invalidation connection failed; the residency limit \
                     bounds staleness until it is back"
                ),
            }
            if core.halt.sleep_until(None, pause) {
                return;
            }
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    fn session<F: Store>(
        &self,
        front: &F,
        core: &Core,
        pause: &mut Duration,
    ) -> redis::RedisResult<()> {
        let mut connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(&self.prefix)
            .exec(&mut connection)?;
        connection.set_read_timeout(Some(POLL))?;
        // Entries taken while no notice could arrive may be stale already.
        core.drop_all_resident(front);
        core.tracking.store(true, Ordering::Release);
        *pause = FIRST_PAUSE;
        loop {
            if core.halt.is_stopped() {
                return Ok(());
            }
            match connection.recv_response() {
                Ok(Value::Push {
                    kind: PushKind::Invalidate,
                    data,
                }) => self.invalidate(front, core, data),
                Ok(_) => {}
                Err(error) if error.is_timeout() => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn invalidate<F: Store>(&self, front: &F, core: &Core, data: Vec<Value>) {
        for value in data {
            match value {
                Value::Array(keys) => {
                    for key in keys {
                        let Value::BulkString(key) = key else {
                            continue;
                        };
                        let Some(key) = key
                            .strip_prefix(self.prefix.as_slice())
                            .and_then(|k| std::str::from_utf8(k).ok())
                        else {
                            continue;
                        };
                        match core.invalidate(front, key) {
                            Ok(true) => core.counters.bump(Counter::Invalidations),
                            Ok(false) => {}
                            Err(error) => {
                                core.counters.bump(Counter::FrontErrors);
                                tracing::warn!(%error, "memo-tiered: dropping an invalidated key failed");
                            }
                        }
                    }
                }
                // FLUSHALL or FLUSHDB: every key changed.
                Value::Nil => core.drop_all_resident(front),
                _ => {}
            }
        }
    }
}
