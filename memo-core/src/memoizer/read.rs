//! The one read path: a call's fresh record, lent by [`Store::read`] and decoded where it lies.

use serde::de::DeserializeOwned;

use super::Memoizer;
use super::call::Call;
use crate::error::{Error, Result};
use crate::fault::guard;
use crate::record::Record;
use crate::store::Store;
use crate::value;

impl Memoizer {
    /// Lends the call's fresh record, if any, to `visit`. Store errors and panics are returned;
    /// every read of the Memoizer goes through here.
    #[inline(always)]
    pub(super) fn visit_fresh(
        &self,
        call: &Call<'_>,
        mut visit: impl FnMut(&Record),
    ) -> Result<()> {
        let store: &dyn Store = &**call.cfg.store;
        guard(store, "read", || {
            store.read(&call.key, &mut |record| {
                if call.is_fresh(record) {
                    visit(record);
                }
            })
        })
        .map(|_| ())
    }

    /// The fresh value with `also(record)`, if the value decodes; faults are misses unless
    /// strict.
    ///
    /// The value is decoded inside the store's callback rather than from a clone of the
    /// record's shared bytes: such a clone writes the bytes' reference count, which threads
    /// reading one hot key would fight over. A decode error is kept apart from the value so
    /// that a hit hands back only the value.
    #[inline(always)]
    pub(super) fn read_with<T: DeserializeOwned + 'static, X>(
        &self,
        call: &Call<'_>,
        mut also: impl FnMut(&Record) -> X,
    ) -> Result<Option<(T, X)>> {
        let mut found = None;
        let mut undecodable = None;
        let read = self.visit_fresh(call, |record| match value::decode(&record.value) {
            Ok(value) => found = Some((value, also(record))),
            Err(error) => undecodable = Some(error),
        });
        self.settle_read(call, read, found, undecodable)
    }

    /// [`Memoizer::read_with`] of a record read by other means (a lock that read it as it was
    /// taken), with the same freshness check and fault handling.
    pub(super) fn read_given<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
        read: Result<Option<Record>>,
    ) -> Result<Option<(T, Record)>> {
        let mut found = None;
        let mut undecodable = None;
        let read = read.map(|record| {
            if let Some(record) = record.filter(|r| call.is_fresh(r)) {
                match value::decode(&record.value) {
                    Ok(value) => found = Some((value, record)),
                    Err(error) => undecodable = Some(error),
                }
            }
        });
        self.settle_read(call, read, found, undecodable)
    }

    /// A read's outcome: the value found, a counted fault (a miss unless strict), or nothing.
    #[inline(always)]
    fn settle_read<V>(
        &self,
        call: &Call<'_>,
        read: Result<()>,
        found: Option<V>,
        undecodable: Option<Error>,
    ) -> Result<Option<V>> {
        match (read, undecodable) {
            (Ok(()), None) => Ok(found),
            (Ok(()), Some(error)) => {
                let error = Error::Codec(format!("value of {:?}: {error}", call.key));
                self.fault(call, "decoding a value", error).map(|()| None)
            }
            (Err(error), _) => self.fault(call, "read", error).map(|()| None),
        }
    }

    /// The fresh value: the hit path.
    #[inline(always)]
    pub(super) fn read<T: DeserializeOwned + 'static>(&self, call: &Call<'_>) -> Result<Option<T>> {
        Ok(self.read_with(call, |_| ())?.map(|(value, ())| value))
    }

    /// The fresh value and its record, to hand to waiters.
    pub(super) fn read_record<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
    ) -> Result<Option<(T, Record)>> {
        self.read_with(call, Record::clone)
    }

    /// The fresh record, with store errors returned: what the inspection calls read.
    pub(super) fn live(&self, call: &Call<'_>) -> Result<Option<Record>> {
        let mut found = None;
        self.visit_fresh(call, |record| found = Some(record.clone()))?;
        Ok(found)
    }
}
