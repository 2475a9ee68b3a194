//! Reading one record from a cache file without opening it for writing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use memo_core::{Record, Result};
use redb::{ReadableDatabase, TableError};

use crate::error::{self, engine};
use crate::tables::{Names, unseal};

/// Reads the record under `key` in `table` (the store's default is `"memo"`) from the cache
/// file at `path`, opening the file read-only: a shared lock, no write and no `fsync`, where
/// [`RedbStore::open`](crate::RedbStore::open) marks the file open and commits. For short-lived
/// readers that read one record per process, such as the `memo` command's hits.
///
/// `Ok(None)` when the file holds no such record or no such table. It does not see writes that
/// a process with the file open still keeps in its journal or queue (they reach the file on
/// that store's next commit).
///
/// # Errors
/// [`Error::Backend`](memo_core::Error::Backend) naming the file when it cannot be opened
/// read-only now: missing, open for writing in another process, not closed cleanly (opening it
/// as a store repairs it), or not a redb file; [`Error::Codec`](memo_core::Error::Codec) for a
/// damaged record. A panic of redb over a damaged file is caught and returned as an error.
pub fn peek_file(path: impl AsRef<Path>, table: &str, key: &str) -> Result<Option<Record>> {
    let path = path.as_ref();
    catch_unwind(AssertUnwindSafe(|| {
        let db = redb::ReadOnlyDatabase::open(path).map_err(|e| error::open(path, e))?;
        let txn = db.begin_read().map_err(engine)?;
        let names = Names::new(table);
        let records = match txn.open_table(names.records()) {
            Ok(records) => records,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(error::table(&names.records, e)),
        };
        match records.get(key).map_err(engine)? {
            None => Ok(None),
            Some(entry) => Record::decode(unseal(key, entry.value().2)?).map(Some),
        }
    }))
    .unwrap_or_else(|panic| Err(error::panicked(panic.as_ref())))
}

#[cfg(test)]
mod tests {
    use memo_core::Store;

    use super::*;
    use crate::{Durability, RedbStore};

    #[test]
    fn peek_reads_what_a_closed_store_wrote_and_fails_while_one_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.redb");
        assert!(peek_file(&path, "memo", "k").is_err(), "no file yet");
        let record = Record::new(1.0, Some(2.0), vec![1, 2, 3]).with_etag(vec![9]);
        let store = RedbStore::builder(&path)
            .durability(Durability::Immediate)
            .build()
            .unwrap();
        store.set("k", record.clone()).unwrap();
        assert!(peek_file(&path, "memo", "k").is_err(), "held by the store");
        drop(store);
        assert_eq!(peek_file(&path, "memo", "k").unwrap(), Some(record));
        assert_eq!(peek_file(&path, "memo", "other").unwrap(), None);
        assert_eq!(peek_file(&path, "no-such-table", "k").unwrap(), None);
        // Read-only: a store opens the file again at once.
        drop(
            RedbStore::builder(&path)
                .require_file(true)
                .build()
                .unwrap(),
        );
    }
}
