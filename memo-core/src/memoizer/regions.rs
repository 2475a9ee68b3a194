//! Named regions: options with a parent, flattened when added so a call reads one map.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use super::Memoizer;
use crate::error::{Error, Result};
use crate::options::{Options, Region};

#[derive(Default)]
pub(super) struct Regions {
    pub(super) defs: HashMap<Arc<str>, Region>,
    /// Each named region's options with its parents' and the default region's merged in.
    pub(super) flat: HashMap<Arc<str>, Arc<Options>>,
}

impl Memoizer {
    /// Adds or replaces a named region. The default region's options are fixed by
    /// [`MemoizerBuilder::options`](crate::MemoizerBuilder::options).
    ///
    /// # Errors
    /// [`Error::Config`] when the region is the default one, when its parent is unknown, or when
    /// the parent chain would come back to it (a cycle). Nothing is changed then.
    pub fn add_region(&self, region: Region) -> Result<()> {
        if &*region.name == Region::DEFAULT {
            return Err(Error::Config(
                "the default region's options are set by Memoizer::builder(..).options(..)".into(),
            ));
        }
        let mut regions = self
            .inner
            .regions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let parent = region.parent.as_deref().unwrap_or(Region::DEFAULT);
        let mut at = parent;
        while at != Region::DEFAULT {
            if at == &*region.name {
                return Err(Error::Config(format!(
                    "region {:?}: parent {parent:?} descends from it (a cycle)",
                    region.name
                )));
            }
            let Some(def) = regions.defs.get(at) else {
                return Err(Error::Config(format!(
                    "region {:?}: unknown parent region {at:?}",
                    region.name
                )));
            };
            at = def.parent.as_deref().unwrap_or(Region::DEFAULT);
        }
        regions.defs.insert(region.name.clone(), region);
        // Children of a replaced region inherit its new options: flatten them all again.
        let mut flat = HashMap::with_capacity(regions.defs.len());
        for name in regions.defs.keys() {
            flatten(&self.inner.default, &regions.defs, name, &mut flat);
        }
        regions.flat = flat;
        Ok(())
    }

    /// The options of the region a call names, merged with their parents' and the default's;
    /// `None` for the default region, whose options are [`Inner::default`].
    ///
    /// Held apart from the default's, so that [`Memoizer::resolve`] picks the base once
    /// instead of at every option it reads.
    #[inline(always)]
    pub(super) fn region(&self, options: Option<&Options>) -> Result<Option<Arc<Options>>> {
        let Some(region) = options.and_then(|o| o.region.as_deref()) else {
            return Ok(None);
        };
        if region == Region::DEFAULT {
            return Ok(None);
        }
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match regions.flat.get(region) {
            Some(flat) => Ok(Some(flat.clone())),
            None => Err(Error::Config(format!("unknown region {region:?}"))),
        }
    }
}

pub(super) fn flatten(
    default: &Options,
    defs: &HashMap<Arc<str>, Region>,
    name: &Arc<str>,
    flat: &mut HashMap<Arc<str>, Arc<Options>>,
) {
    if flat.contains_key(name) {
        return;
    }
    let region = &defs[name];
    let merged = match region.parent.as_ref().filter(|p| &***p != Region::DEFAULT) {
        None => default.overlay(&region.options),
        Some(parent) => {
            flatten(default, defs, parent, flat);
            flat[parent].overlay(&region.options)
        }
    };
    flat.insert(name.clone(), Arc::new(merged));
}
