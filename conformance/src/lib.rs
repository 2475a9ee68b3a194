#![doc = include_str!("../README.md")]

pub mod check;
mod harness;
pub mod memoizer;
#[doc(hidden)]
pub mod memoizer_async;
pub mod model;
pub mod properties;
pub mod reference;
pub mod strategy;

pub use harness::{Fixture, Harness};

/// What a property gives back: `Err` carries a readable account of the failure.
pub type Verdict = Result<(), String>;

/// Expands to `mod conformance`, with one `#[test]` per property of [`properties`] and per
/// Memoizer behaviour of [`memoizer`], each run on the store that `harness` (a path to
/// `fn() -> Harness`) makes.
///
/// ```
/// # use memo_conformance::reference::ReferenceStore as MyStore;
/// fn harness() -> memo_conformance::Harness {
///     memo_conformance::Harness::new(MyStore::new)
/// }
/// memo_conformance::suite!(harness);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! suite {
    ($harness:path) => {
        // A `path` fragment cannot be prefixed with `super::`, so the module reaches the harness
        // through this item, which is in the caller's scope. `allow`, not `expect`: it is dead
        // only outside test builds, where the `#[test]` functions vanish.
        #[doc(hidden)]
        #[allow(dead_code)]
        const __MEMO_CONFORMANCE_HARNESS: fn() -> $crate::Harness = $harness;

        /// The memo store contract, checked by `memo-conformance`.
        mod conformance {
            $crate::__store_suite!(super::__MEMO_CONFORMANCE_HARNESS);
            $crate::__memoizer_suite!(super::__MEMO_CONFORMANCE_HARNESS);
            $crate::__memoizer_async_suite!(super::__MEMO_CONFORMANCE_HARNESS);
        }
    };
}

/// Like [`suite!`], with the store properties only: for a store that is not meant for a
/// Memoizer (a building block of another store, say), or a harness whose store cannot hold what
/// the Memoizer's behaviours write.
///
/// ```
/// # use memo_conformance::reference::ReferenceStore as MyStore;
/// fn harness() -> memo_conformance::Harness {
///     memo_conformance::Harness::new(MyStore::new)
/// }
/// memo_conformance::store_suite!(harness);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_suite {
    ($harness:path) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        const __MEMO_CONFORMANCE_HARNESS: fn() -> $crate::Harness = $harness;

        /// The memo store contract, checked by `memo-conformance`.
        mod conformance {
            $crate::__store_suite!(super::__MEMO_CONFORMANCE_HARNESS);
        }
    };
}

/// The store properties of [`suite!`], without the Memoizer's behaviours.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_suite {
    ($harness:path) => {
        $crate::__property_tests!($harness;
            get_after_set_returns_same_record,
            read_lends_the_record_get_returns,
            set_overwrites_previous_record,
            delete_returns_true_then_false,
            get_after_delete_is_none,
            delete_of_absent_key_is_false,
            any_string_key_works,
            keys_that_are_prefixes_never_collide,
            keys_differing_in_case_stay_apart,
            keys_differing_in_unicode_normalisation_stay_apart,
            keys_that_look_like_paths_or_urls_stay_apart,
            keys_differing_in_surrounding_white_space_stay_apart,
            nul_never_ends_a_key,
            keys_sharing_a_long_prefix_stay_apart,
            thousands_of_records_are_all_kept,
            values_up_to_16_mib_work,
            ttl_never_over_reports,
            native_expiry_never_removes_a_record_early,
            concurrent_threads_keep_written_records,
            scan_returns_exactly_the_matching_keys,
            purge_expired_removes_only_expired_records,
            random_operations_match_a_model,
            reopen_keeps_every_record,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __property_tests {
    ($harness:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__check($harness, $crate::properties::$name);
            }
        )*
    };
}

/// Runs `property` on the harness and panics with its account when it fails; used by
/// [`suite!`].
#[doc(hidden)]
#[track_caller]
pub fn __check(harness: fn() -> Harness, property: fn(&Harness) -> Verdict) {
    check::assert_holds(property, &harness());
}

#[cfg(test)]
mod tests {
    #[test]
    fn suite_readme_and_all_list_the_same_store_properties() {
        let suite = include_str!("lib.rs");
        let suite = &suite[suite.find("macro_rules! __store_suite").unwrap()..];
        let suite = &suite[..suite.find(");").unwrap()];
        let listed: Vec<&str> = suite
            .lines()
            .map(|line| line.trim().trim_end_matches(','))
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .filter(|name| !name.is_empty())
            .collect();
        let all: Vec<&str> = crate::properties::ALL
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(listed.len(), all.len(), "{listed:?}");
        for name in &all {
            assert!(listed.contains(name), "{name} is not in suite!");
            assert!(
                include_str!("../README.md").contains(&format!("| `{name}` |")),
                "{name} is not in the README's table"
            );
        }
    }
}
