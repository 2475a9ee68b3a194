//! A small pool of blocking connections that drops every connection that failed.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memo_core::Result;
use redis::{Client, Connection, ConnectionLike, RedisResult};

use crate::error::backend;

/// Timeouts that bound every call: none of them may be zero (the OS treats zero as "never").
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
    pub(crate) write: Duration,
}

/// Idle connections to one server, at most `max_idle` of them.
///
/// A caller takes an idle connection or opens a new one, so concurrency is never limited by the
/// pool; only the number of connections kept between calls is.
pub(crate) struct Pool {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    timeouts: Timeouts,
}

impl Pool {
    pub(crate) fn new(client: Client, max_idle: usize, timeouts: Timeouts) -> Self {
        Pool {
            client,
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
            timeouts,
        }
    }

    /// `host:port` (or the socket path) of the server, without credentials.
    pub(crate) fn address(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    pub(crate) fn max_idle(&self) -> usize {
        self.max_idle
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A Vec push or pop cannot be left half done by a panic.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a connection and keeps it in the pool: what `build` does unless lazy.
    pub(crate) fn warm_up(&self) -> Result<()> {
        let connection = self.open().map_err(backend)?;
        self.put(connection);
        Ok(())
    }

    fn open(&self) -> RedisResult<Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(self.timeouts.connect)?;
        connection.set_read_timeout(Some(self.timeouts.read))?;
        connection.set_write_timeout(Some(self.timeouts.write))?;
        Ok(connection)
    }

    fn take(&self) -> Option<Connection> {
        let mut idle = self.idle();
        while let Some(connection) = idle.pop() {
            if connection.is_open() {
                return Some(connection);
            }
        }
        None
    }

    fn put(&self, connection: Connection) {
        let mut idle = self.idle();
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
    }

    /// Runs `op` on a connection and returns the connection to the pool if `op` succeeded.
    ///
    /// A connection that failed is dropped: after a timeout its reply may still be on the way
    /// and would answer the next command. When an idle connection turns out to be dead (the
    /// server restarted since it was last used), its idle siblings are dead too: they are
    /// dropped and `op` runs once more on a new connection. Every attempt is bounded by the
    /// timeouts, so a call never hangs.
    ///
    /// # Errors
    /// [`memo_core::Error::Backend`] with the `redis` error.
    pub(crate) fn run<T>(&self, op: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T> {
        if let Some(mut connection) = self.take() {
            match op(&mut connection) {
                Ok(value) => {
                    self.put(connection);
                    return Ok(value);
                }
                Err(error) if error.is_connection_dropped() => {
                    self.idle().clear();
                    tracing::debug!(%error, "memo: a pooled redis connection was dead; reconnecting");
                }
                Err(error) => return Err(backend(error)),
            }
        }
        let mut connection = self.open().map_err(backend)?;
        let value = op(&mut connection).map_err(backend)?;
        self.put(connection);
        Ok(value)
    }
}
