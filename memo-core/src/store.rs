//! The store contract and the lock contract.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::record::Record;

/// Where records live. Three required methods; everything else has a default.
///
/// Keys are arbitrary strings (empty, 4 KiB long, any Unicode, `:` and NUL included). Expiry
/// semantics live in the [`Memoizer`](crate::Memoizer), so a store may return an expired record;
/// it must never return a wrong one. The `memo-conformance` crate checks every rule in one line:
/// `memo_conformance::suite!(...)`.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use memo_core::{Memoizer, Record, Result, Store};
///
/// #[derive(Debug, Default)]
/// struct MyStore(Mutex<HashMap<String, Record>>);
///
/// impl Store for MyStore {
///     fn get(&self, key: &str) -> Result<Option<Record>> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     fn set(&self, key: &str, record: Record) -> Result<()> {
///         self.0.lock().unwrap().insert(key.to_owned(), record);
///         Ok(())
///     }
///     fn delete(&self, key: &str) -> Result<bool> {
///         Ok(self.0.lock().unwrap().remove(key).is_some())
///     }
/// }
///
/// let memo = Memoizer::new(MyStore::default());
/// assert_eq!(memo.get("answer", || 42_u32).unwrap(), 42);
/// ```
pub trait Store: Send + Sync + Debug + 'static {
    /// The record under `key`, expired or not.
    ///
    /// # Errors
    /// [`Error::Backend`] when the engine fails, [`Error::Codec`] when the stored bytes do not
    /// decode.
    fn get(&self, key: &str) -> Result<Option<Record>>;

    /// Stores `record` under `key`, replacing any record there.
    ///
    /// # Errors
    /// [`Error::Backend`] when the engine fails.
    fn set(&self, key: &str, record: Record) -> Result<()>;

    /// Removes the record under `key`; `false` when there was none.
    ///
    /// # Errors
    /// [`Error::Backend`] when the engine fails.
    fn delete(&self, key: &str) -> Result<bool>;

    /// Lends the record under `key` to `visit` instead of returning a copy; `Ok(false)` when
    /// there is none. The Memoizer's hit path reads through this, so a store that can lend
    /// (an in-memory map under a read lock) saves a clone per hit. The default calls
    /// [`Store::get`].
    ///
    /// # Errors
    /// As [`Store::get`].
    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        match self.get(key)? {
            Some(record) => {
                visit(&record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The time the record under `key` has left: `None` when it is missing, expired or never
    /// expires. Never more than the truth. The default reads the record and the system clock.
    ///
    /// # Errors
    /// As [`Store::get`].
    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let now = SystemClock.now();
        Ok(self
            .get(key)?
            .filter(|r| !r.is_expired(now))
            .and_then(|r| r.remaining(now)))
    }

    /// The store's own cross-process lock for `key`, if it has one (Redis does). The
    /// Memoizer takes it around a computation unless the options say otherwise.
    fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        let _ = key;
        None
    }

    /// A lock on `key` that also reads and writes this store's record under `key`, in the same
    /// round trips as taking and releasing it ([`Lock::acquire_reading`],
    /// [`Lock::release_writing`]): on a miss the Memoizer then double-checks and writes without
    /// round trips of their own. `None` (the default): the Memoizer takes [`Store::lock`] and
    /// reads and writes through the store.
    ///
    /// The lock's read and write must be exactly this store's [`Store::get`] and [`Store::set`]
    /// of `key`. A wrapper whose own `set` does more than its inner store's (tiers, a
    /// write-behind queue) must not forward its inner store's record lock.
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        let _ = key;
        None
    }

    /// What this store can do; the conformance kit and the Memoizer read it.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The keys that start with `prefix`, in no particular order.
    ///
    /// # Errors
    /// [`Error::Unsupported`] unless [`Capabilities::scan`]; [`Error::Backend`] on failure.
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let _ = prefix;
        Err(Error::Unsupported {
            store: self.name(),
            operation: "scan",
        })
    }

    /// Removes records whose expiry is at or before `now` (unix seconds) and returns how many.
    /// The default does nothing: stores with native expiry, or none, need not purge.
    ///
    /// # Errors
    /// [`Error::Backend`] when the engine fails.
    fn purge_expired(&self, now: f64) -> Result<u64> {
        let _ = now;
        Ok(0)
    }

    /// Makes every write so far durable (persistent stores) or sent (networked ones).
    ///
    /// # Errors
    /// [`Error::Backend`] when the engine fails.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// A short name for errors and logs (`"memory"`, `"redb"`, ...).
    fn name(&self) -> &'static str {
        "custom"
    }

    /// This store's non-blocking twin, for the Memoizer's `*_async` calls.
    ///
    /// `None` (the default) says that every call of this store is short and never waits on a
    /// network (memory, an embedded database): the async calls then run the methods above
    /// inline on the executor's thread. A store that waits on a network returns `Some(self)`
    /// and implements [`AsyncStore`].
    fn as_async(&self) -> Option<&dyn AsyncStore> {
        None
    }
}

/// A store operation in progress, as returned by [`AsyncStore`] and [`AsyncLock`].
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The non-blocking operations of a [`Store`] that waits on a network, which the Memoizer's
/// `*_async` calls await instead of calling [`Store`]'s blocking methods. A store offers it
/// through [`Store::as_async`]; the rules of [`Store`] hold for both sets of methods, and the
/// `memo-conformance` kit checks them through both.
///
/// The Memoizer wraps every returned future so that a panic inside it is a store fault and the
/// call's store budget ([`crate::budget`]) is current on each poll: a future reads
/// [`budget::remaining`](crate::budget::remaining) when it starts and
/// [`charge`](crate::budget::charge)s its time when it ends, both from inside `poll`.
///
/// The futures may be dropped at any await point (the caller's task was cancelled), so a
/// write must be one indivisible command: dropped before it is sent, nothing is written.
pub trait AsyncStore: Store {
    /// As [`Store::get`].
    ///
    /// # Errors
    /// As [`Store::get`].
    fn get_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>>;

    /// As [`Store::set`].
    ///
    /// # Errors
    /// As [`Store::set`].
    fn set_async<'a>(&'a self, key: &'a str, record: Record) -> StoreFuture<'a, ()>;

    /// As [`Store::delete`].
    ///
    /// # Errors
    /// As [`Store::delete`].
    fn delete_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// The non-blocking twin of [`Store::lock`]. `None` (the default) means the store has no
    /// lock of its own; a store whose [`Store::lock`] gives one must give its twin here.
    fn lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        let _ = key;
        None
    }

    /// The non-blocking twin of [`Store::record_lock`], under the same rules. `None` (the
    /// default): the async calls take [`AsyncStore::lock_async`].
    fn record_lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        let _ = key;
        None
    }
}

/// The non-blocking twin of [`Lock`], which an async Memoizer call awaits.
///
/// A caller's task may be cancelled while it holds the lock: the lock is then dropped without
/// [`AsyncLock::release_async`], and must not stay held for longer than its lease. Redis's lock
/// sends its release on the runtime when dropped held.
pub trait AsyncLock: Send + Sync + Debug {
    /// Tries for at most `timeout`; `Ok(false)` when it timed out. Waits between attempts
    /// without blocking the thread.
    ///
    /// # Errors
    /// [`Error::Backend`] when the lock's engine fails.
    fn acquire_async(&self, timeout: Duration) -> StoreFuture<'_, bool>;

    /// Releases the lock if this handle holds it; a no-op otherwise.
    ///
    /// # Errors
    /// [`Error::Backend`] when the lock's engine fails.
    fn release_async(&self) -> StoreFuture<'_, ()>;

    /// The non-blocking twin of [`Lock::acquire_reading`]; the default awaits
    /// [`AsyncLock::acquire_async`] and reads nothing.
    ///
    /// # Errors
    /// As [`Lock::acquire_reading`].
    fn acquire_reading_async(&self, timeout: Duration) -> StoreFuture<'_, Acquired> {
        Box::pin(async move {
            Ok(if self.acquire_async(timeout).await? {
                Acquired::Held
            } else {
                Acquired::TimedOut
            })
        })
    }

    /// The non-blocking twin of [`Lock::release_writing`]; the default does nothing
    /// (`Ok(false)`). Dropped before it completes (the call was cancelled), the handle still
    /// counts the lock as held, so that it is released as a dropped held lock is.
    ///
    /// # Errors
    /// As [`Lock::release_writing`].
    fn release_writing_async<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, bool> {
        let _ = record;
        Box::pin(async { Ok(false) })
    }
}

/// What a store can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Records survive a clean reopen of the store.
    pub persistent: bool,
    /// The store may forget records on its own (bounded, evicting).
    pub lossy: bool,
    /// The engine expires records itself, from the record's expiry.
    pub native_expiry: bool,
    /// Several processes see the same records.
    pub shared: bool,
    /// [`Store::scan`] works.
    pub scan: bool,
}

impl Capabilities {
    /// No capability: a volatile, exact, unshared store without scan.
    pub const fn none() -> Self {
        Capabilities {
            persistent: false,
            lossy: false,
            native_expiry: false,
            shared: false,
            scan: false,
        }
    }

    /// With [`Capabilities::persistent`] set to `yes`.
    #[must_use]
    pub const fn persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }

    /// With [`Capabilities::lossy`] set to `yes`.
    #[must_use]
    pub const fn lossy(mut self, yes: bool) -> Self {
        self.lossy = yes;
        self
    }

    /// With [`Capabilities::native_expiry`] set to `yes`.
    #[must_use]
    pub const fn native_expiry(mut self, yes: bool) -> Self {
        self.native_expiry = yes;
        self
    }

    /// With [`Capabilities::shared`] set to `yes`.
    #[must_use]
    pub const fn shared(mut self, yes: bool) -> Self {
        self.shared = yes;
        self
    }

    /// With [`Capabilities::scan`] set to `yes`.
    #[must_use]
    pub const fn scan(mut self, yes: bool) -> Self {
        self.scan = yes;
        self
    }
}

/// `Store` for a pointer to a store, forwarding every method, defaults included, so that a
/// store's own `read`, `ttl` or `lock` is never hidden behind its pointer (the lint makes a new
/// trait method a compile error here).
macro_rules! forward_store {
    ($pointer:ident) => {
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $pointer<S> {
            fn get(&self, key: &str) -> Result<Option<Record>> {
                (**self).get(key)
            }
            fn set(&self, key: &str, record: Record) -> Result<()> {
                (**self).set(key, record)
            }
            fn delete(&self, key: &str) -> Result<bool> {
                (**self).delete(key)
            }
            fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
                (**self).read(key, visit)
            }
            fn ttl(&self, key: &str) -> Result<Option<Duration>> {
                (**self).ttl(key)
            }
            fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
                (**self).lock(key)
            }
            fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
                (**self).record_lock(key)
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            fn scan(&self, prefix: &str) -> Result<Vec<String>> {
                (**self).scan(prefix)
            }
            fn purge_expired(&self, now: f64) -> Result<u64> {
                (**self).purge_expired(now)
            }
            fn flush(&self) -> Result<()> {
                (**self).flush()
            }
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn as_async(&self) -> Option<&dyn AsyncStore> {
                (**self).as_async()
            }
        }
    };
}

forward_store!(Arc);
forward_store!(Box);

/// A lock on one key, usually shared by processes (a Redis lock, a file lock).
///
/// The Memoizer acquires it around a computation and releases it through an RAII guard, also
/// when the function panics or fails.
pub trait Lock: Send + Sync + Debug {
    /// Tries for at most `timeout`; `Ok(false)` when it timed out.
    ///
    /// # Errors
    /// [`Error::Backend`] when the lock's engine fails.
    fn acquire(&self, timeout: Duration) -> Result<bool>;

    /// Releases the lock if this handle holds it; a no-op otherwise (only the owner releases).
    ///
    /// # Errors
    /// [`Error::Backend`] when the lock's engine fails.
    fn release(&self) -> Result<()>;

    /// Tries for at most `timeout`, as [`Lock::acquire`], and on a lock from
    /// [`Store::record_lock`] reads the store's record under the key in the same operation, at
    /// the moment the lock is taken: the double check, done. The default acquires and reads
    /// nothing ([`Acquired::Held`]), and the Memoizer reads the record itself.
    ///
    /// # Errors
    /// As [`Lock::acquire`]. A failed read of a lock that was taken is not an error here but
    /// [`Acquired::Read`] of the error: the lock is held all the same.
    fn acquire_reading(&self, timeout: Duration) -> Result<Acquired> {
        Ok(if self.acquire(timeout)? {
            Acquired::Held
        } else {
            Acquired::TimedOut
        })
    }

    /// On a held lock from [`Store::record_lock`]: writes `record` under the key as the
    /// store's [`Store::set`] would, then releases the lock, in one operation; the write comes
    /// first, so no one takes the lock and misses the record. `Ok(true)` when both were done.
    ///
    /// `Ok(false)` (the default, and for a handle that does not hold its lock): nothing was
    /// written or released; the caller writes through the store and then calls
    /// [`Lock::release`].
    ///
    /// # Errors
    /// [`Error::Backend`] when the operation failed: the record may or may not have been
    /// written, and the handle still counts the lock as held, so that [`Lock::release`]
    /// releases it.
    fn release_writing(&self, record: &Record) -> Result<bool> {
        let _ = record;
        Ok(false)
    }
}

/// What [`Lock::acquire_reading`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Acquired {
    /// The timeout passed before the lock was free.
    TimedOut,
    /// The lock is held; the record was not read.
    Held,
    /// The lock is held, and this is what the store held under the key when it was taken:
    /// its record, `None` when there was none, or why it could not be read.
    Read(Result<Option<Record>>),
    /// The lock is not held: the key had no record when this call began to wait, and the
    /// holder wrote this one meanwhile, which is what a waiter waits for. The caller serves it
    /// if it is a hit for its call; if not, it calls again, and that call (which begins with a
    /// record under the key) waits for the lock itself.
    Written(Record),
}

/// Makes the [`Lock`] for a key; what the `lock` option holds.
pub trait LockProvider: Send + Sync + Debug + 'static {
    /// A lock handle for `key` (the key as the store sees it), not yet acquired.
    fn lock(&self, key: &str) -> Box<dyn Lock>;

    /// The non-blocking twin of [`LockProvider::lock`], for the Memoizer's async calls.
    /// `None` (the default): they acquire the blocking [`Lock`] inline, which holds the
    /// executor's thread while it waits, so a provider whose lock waits should give one.
    fn lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        let _ = key;
        None
    }
}

impl<P: LockProvider + ?Sized> LockProvider for std::sync::Arc<P> {
    fn lock(&self, key: &str) -> Box<dyn Lock> {
        (**self).lock(key)
    }
    fn lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        (**self).lock_async(key)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::doc_store::DocStore;

    /// Answers every defaulted method its own way, and counts lent reads.
    #[derive(Debug, Default)]
    struct Own {
        inner: DocStore,
        lent: AtomicU64,
    }

    impl Store for Own {
        fn get(&self, key: &str) -> Result<Option<Record>> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, record: Record) -> Result<()> {
            self.inner.set(key, record)
        }
        fn delete(&self, key: &str) -> Result<bool> {
            self.inner.delete(key)
        }
        fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
            self.lent.fetch_add(1, Ordering::Relaxed);
            self.inner.read(key, visit)
        }
        fn ttl(&self, _: &str) -> Result<Option<Duration>> {
            Ok(Some(Duration::from_secs(7)))
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::none().scan(true).shared(true)
        }
        fn scan(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec!["own".into()])
        }
        fn purge_expired(&self, _: f64) -> Result<u64> {
            Ok(3)
        }
        fn name(&self) -> &'static str {
            "own"
        }
    }

    fn forwards(store: &dyn Store, own: &Own) {
        store.set("k", Record::new(1.0, None, vec![1])).unwrap();
        assert!(store.read("k", &mut |_| ()).unwrap());
        assert_eq!(
            own.lent.load(Ordering::Relaxed),
            1,
            "read reached the inner store"
        );
        assert_eq!(store.ttl("k").unwrap(), Some(Duration::from_secs(7)));
        assert_eq!(store.capabilities(), own.capabilities());
        assert_eq!(store.scan("").unwrap(), ["own"]);
        assert_eq!(store.purge_expired(0.0).unwrap(), 3);
        assert_eq!(store.name(), "own");
    }

    #[test]
    fn arc_and_box_forward_the_defaulted_methods() {
        let arc = Arc::new(Own::default());
        forwards(&arc.clone(), &arc);
        let boxed: Box<Own> = Box::default();
        forwards(&boxed, &boxed);
    }
}
