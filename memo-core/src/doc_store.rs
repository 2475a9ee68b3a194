//! A minimal store for memo-core's own doc examples; users take `memo-store-mem`'s `MemStore`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::{Record, Result, Store};

/// A `Mutex<HashMap>` store.
#[derive(Debug, Default)]
pub struct DocStore(Mutex<HashMap<String, Record>>);

impl Store for DocStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }
    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).map(visit).is_some())
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), record);
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
            .is_some())
    }
}
