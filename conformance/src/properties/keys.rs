//! The ways real backends lose distinct keys: file systems that fold case or trim names, URL
//! and path encoders, Unicode normalisers, engines with key-size limits, C strings, and stores
//! that keep only so many records. Each property sets groups of keys that such a backend makes
//! one, and checks that every key keeps its own record.

use proptest::collection::vec;
use proptest::prelude::*;

use memo_core::Record;

use crate::check::{
    Case, Rules, call, check_read, distinct_keys_keep_their_records, fail, reason, run, run_once,
    show_key,
};
use crate::{Harness, Verdict};

/// How many records [`thousands_of_records_are_all_kept`] holds at once by default: far above
/// any other property's dozen, few enough for a networked store on two cores.
pub const MANY: usize = 2048;

/// A store that claims not to be lossy keeps every record of a set of [`MANY`] (2,048; see
/// [`Harness::many`]) at once: each reads back exact after all are written, after a reopen
/// (persistent harnesses), and after every eighth one is deleted. A lossy store may forget any
/// of them, never return a wrong one.
///
/// # Errors
/// An account of how many records were lost, and the first one.
pub fn thousands_of_records_are_all_kept(harness: &Harness) -> Verdict {
    let property = "thousands_of_records_are_all_kept";
    let many = harness.many_count();
    let keys: Vec<String> = (0..many).map(many_key).collect();
    let records: Vec<Record> = (0..many).map(many_record).collect();
    run_once(property, harness, |fixture, rules| {
        let store = fixture.store();
        for (key, record) in keys.iter().zip(&records) {
            call("set", store.set(key, record.clone()))?;
        }
        let all = |store: &dyn memo_core::Store, deleted: &dyn Fn(usize) -> bool, when: &str| {
            let (mut lost, mut first) = (0, None);
            for (i, (key, record)) in keys.iter().zip(&records).enumerate() {
                let expected = (!deleted(i)).then_some(record);
                let got = call("get", store.get(key))?;
                if got.is_none() && expected.is_some() && !rules.lossy {
                    lost += 1;
                    first.get_or_insert(i);
                    continue;
                }
                check_read(key, got.as_ref(), expected, rules)
                    .map_err(|e| fail(format!("{when}: {}", reason(&e))))?;
            }
            match first {
                None => Ok(()),
                Some(i) => Err(fail(format!(
                    "{when}, {lost} of the {} records that should be there were gone, the first \
                     {} (set as record {i} of {many}); a store that forgets must declare itself \
                     lossy",
                    many - (0..many).filter(|&i| deleted(i)).count(),
                    show_key(&keys[i])
                ))),
            }
        };
        all(&*store, &|_| false, &format!("after {many} sets"))?;
        drop(store);
        if fixture.is_persistent() {
            fixture.reopen().map_err(fail)?;
            all(&*fixture.store(), &|_| false, "after a reopen")?;
        }
        let store = fixture.store();
        for key in keys.iter().step_by(8) {
            call("delete", store.delete(key))?;
        }
        all(
            &*store,
            &|i| i.is_multiple_of(8),
            "after deleting every eighth record",
        )
    })
}

/// The key of record `i` of [`thousands_of_records_are_all_kept`]: plain ASCII, so no other
/// conflation applies, in a few shapes (numbers, words, paths of a sort).
fn many_key(i: usize) -> String {
    match i % 3 {
        0 => format!("many:{i}"),
        1 => format!("record-{i:05}-of-the-set"),
        _ => format!("m{}", "x".repeat(i % 40)) + &i.to_string(),
    }
}

/// Record `i`: every field differs from every other record's.
fn many_record(i: usize) -> Record {
    let value = format!("{i}:").into_bytes().repeat(1 + i % 9);
    let record = Record::new(
        1.7e9 + i as f64,
        i.is_multiple_of(3).then_some(4.0e9 + i as f64),
        value,
    );
    if i.is_multiple_of(2) {
        record.with_etag((i as u32).to_le_bytes().to_vec())
    } else {
        record
    }
}

/// Keys that differ only in case (`A` and `a`, `É` and `é`, `ß` and `SS`) keep their own
/// records, as on a case-sensitive file system; a case-insensitive one (macOS, Windows) makes
/// them one file.
///
/// # Errors
/// An account of the keys that met.
pub fn keys_differing_in_case_stay_apart(harness: &Harness) -> Verdict {
    let fixed = groups(&[
        &["A", "a"],
        &["Key", "KEY", "key", "kEY"],
        &["É", "é"],
        &["straße", "STRASSE", "strasse"],
        &["İ", "i", "I", "ı"],
        &["Σ", "σ", "ς"],
        &["users:Alice", "users:alice"],
    ]);
    let letters = vec(
        prop::sample::select(vec!['a', 'B', 'é', 'Ö', 'ß', 'ǅ', 'k', ':', '1']),
        1..12,
    );
    let cases = letters.prop_map(|chars| {
        let base: String = chars.into_iter().collect();
        let swapped: String = base
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().next().unwrap_or(c)
                } else {
                    c.to_uppercase().next().unwrap_or(c)
                }
            })
            .collect();
        unique(vec![
            base.clone(),
            base.to_uppercase(),
            base.to_lowercase(),
            swapped,
        ])
    });
    distinct_groups("keys_differing_in_case_stay_apart", harness, fixed, &cases)
}

/// Keys that are the same text in another Unicode normal form (`é` as U+00E9 and as `e` plus
/// U+0301, `Å` as U+00C5, as `A` plus U+030A and as the Angstrom sign, `ﬁ` and `fi`) keep their
/// own records; a backend that normalises names (HFS+, some databases and URL libraries) makes
/// them one.
///
/// # Errors
/// An account of the keys that met.
pub fn keys_differing_in_unicode_normalisation_stay_apart(harness: &Harness) -> Verdict {
    let fixed = groups(&[
        &["\u{E9}", "e\u{301}"],
        &["caf\u{E9}", "cafe\u{301}"],
        &["\u{C5}", "A\u{30A}"],
        &["\u{212B}", "A\u{30A}"],
        &["\u{F1}", "n\u{303}"],
        &["\u{FB01}", "fi"],
        &["\u{FF21}", "A"],
        &["\u{2460}", "1"],
        &["e\u{301}\u{323}", "e\u{323}\u{301}", "\u{1EB9}\u{301}"],
    ]);
    // Each piece has several spellings; a key spelled two ways is the same text to a normaliser.
    let pieces: Vec<&[&str]> = vec![
        &["\u{E9}", "e\u{301}"],
        &["\u{C5}", "A\u{30A}"],
        &["\u{F1}", "n\u{303}"],
        &["\u{FB01}", "fi"],
        &["x"],
        &[":"],
    ];
    let cases =
        vec((0..pieces.len(), any::<prop::sample::Index>()), 1..6).prop_flat_map(move |spelled| {
            let pieces = pieces.clone();
            vec(any::<prop::sample::Index>(), spelled.len()).prop_map(move |second| {
                let write = |choice: &dyn Fn(usize) -> usize| -> String {
                    spelled
                        .iter()
                        .enumerate()
                        .map(|(n, &(p, _))| pieces[p][choice(n) % pieces[p].len()])
                        .collect()
                };
                unique(vec![
                    write(&|n| spelled[n].1.index(usize::MAX)),
                    write(&|n| second[n].index(usize::MAX)),
                    write(&|_| 0),
                    write(&|_| 1),
                ])
            })
        });
    distinct_groups(
        "keys_differing_in_unicode_normalisation_stay_apart",
        harness,
        fixed,
        &cases,
    )
}

/// Keys that a path or URL layer would read alike keep their own records: `a/b` and `a%2Fb`;
/// `a/./b`, `a//b`, `a/x/../b` and `b`; `a\b`; `a+b`, `a b` and `a%20b`; a name and the same
/// name with a trailing dot, as Windows drops it.
///
/// # Errors
/// An account of the keys that met.
pub fn keys_that_look_like_paths_or_urls_stay_apart(harness: &Harness) -> Verdict {
    let fixed = groups(&[
        &["a/b", "a%2Fb", "a%252Fb"],
        &["a/b", "a/./b", "a//b", "a/x/../b", "./a/b", "/a/b", "a/b/"],
        &["b", "a/../b", "../b"],
        &["a/b", "a\\b"],
        &["a b", "a+b", "a%20b"],
        &["%", "%25", "%2", "%zz"],
        &["name", "name.", "name..", "name.txt"],
        &[".", "..", "", "/"],
        &["https://x/y?q=1", "https://x/y?q=%31"],
    ]);
    let segment = prop::sample::select(vec!["a", "b", "c", ".", "..", "", "%2F", "%7E"]);
    let cases = vec(segment, 1..5).prop_map(|segments| {
        let joined = |sep: &str| segments.join(sep);
        let plain = joined("/");
        unique(vec![
            plain.clone(),
            joined("%2F"),
            joined("\\"),
            joined("//"),
            format!("{plain}."),
            format!("./{plain}"),
            plain.replace("%2F", "/").replace("%7E", "~"),
        ])
    });
    distinct_groups(
        "keys_that_look_like_paths_or_urls_stay_apart",
        harness,
        fixed,
        &cases,
    )
}

/// Keys that differ only in leading or trailing white space (`a`, `a `, ` a`, `a\t`, `a\n`, a
/// no-break space) keep their own records; a store that trims names, or compares them as SQL
/// `CHAR` columns padded with spaces, makes them one.
///
/// # Errors
/// An account of the keys that met.
pub fn keys_differing_in_surrounding_white_space_stay_apart(harness: &Harness) -> Verdict {
    let fixed = groups(&[
        &[
            "a",
            "a ",
            "a  ",
            " a",
            "a\t",
            "a\n",
            "a\r\n",
            "\ta",
            "a\u{A0}",
            "a\u{3000}",
        ],
        &["", " ", "  ", "\t", "\n"],
        &["k:v", "k: v", "k :v"],
    ]);
    let pad = prop::sample::select(vec!["", " ", "  ", "\t", "\n", "\u{A0}"]);
    // No NUL or case in the base: those meetings are other rules'.
    let base = vec(
        prop::sample::select(vec!['a', 'b', ':', '\u{E9}', '-']),
        0..6,
    )
    .prop_map(String::from_iter);
    let cases = (base, vec((pad.clone(), pad), 1..5)).prop_map(|(base, pads)| {
        let mut keys = vec![base.clone()];
        keys.extend(pads.into_iter().map(|(l, r)| format!("{l}{base}{r}")));
        unique(keys)
    });
    distinct_groups(
        "keys_differing_in_surrounding_white_space_stay_apart",
        harness,
        fixed,
        &cases,
    )
}

/// A NUL inside a key is a character like any other: `a`, `a\0`, `a\0b` and `a\0c` keep their
/// own records; an engine that takes keys as C strings ends each at its first NUL.
///
/// # Errors
/// An account of the keys that met.
pub fn nul_never_ends_a_key(harness: &Harness) -> Verdict {
    let fixed = groups(&[
        &["a", "a\0", "a\0b", "a\0c", "a\0\0"],
        &["", "\0", "\0\0", "\0x"],
        &["ns:key", "ns:key\0tail", "ns\0:key"],
    ]);
    let cases = (
        crate::strategy::short_key(8),
        vec(crate::strategy::short_key(4), 1..4),
    )
        .prop_map(|(base, tails)| {
            let mut keys = vec![base.clone()];
            keys.extend(tails.into_iter().map(|tail| format!("{base}\0{tail}")));
            unique(keys)
        });
    distinct_groups("nul_never_ends_a_key", harness, fixed, &cases)
}

/// Long keys of the same length that share a long prefix keep their own records: two 4 KiB keys
/// alike in their first 250 bytes (memcached's limit), or in all but their last byte, and keys
/// at the lengths engines cut at (250, 255, 256, 512, 1024 bytes). An engine with a key-size
/// limit that cuts keys, or keeps a cut key and its length, makes them one.
///
/// # Errors
/// An account of the keys that met.
pub fn keys_sharing_a_long_prefix_stay_apart(harness: &Harness) -> Verdict {
    let mut fixed = Vec::new();
    for len in [251, 256, 300, 1025, 4096, 4500] {
        for shared in [250, len - 1] {
            if shared < len {
                fixed.push(same_length_keys(len, shared, 3));
            }
        }
    }
    let cases = (250..4600_usize, 3..4600_usize, 2..4_usize).prop_map(|(len, shared, n)| {
        let len = len.max(4);
        same_length_keys(len, shared.min(len - 1), n)
    });
    distinct_groups(
        "keys_sharing_a_long_prefix_stay_apart",
        harness,
        fixed,
        &cases,
    )
}

/// `n` keys of `len` bytes alike in their first `shared` bytes, then each its own.
fn same_length_keys(len: usize, shared: usize, n: usize) -> Vec<String> {
    let prefix = "p".repeat(shared);
    (0..n)
        .map(|i| {
            let mut key = prefix.clone();
            let tail = char::from(b'a' + (i % 26) as u8);
            while key.len() < len {
                key.push(tail);
            }
            key
        })
        .collect()
}

/// Owned groups of keys.
fn groups(fixed: &[&[&str]]) -> Vec<Vec<String>> {
    fixed
        .iter()
        .map(|group| unique(group.iter().map(|k| (*k).to_owned()).collect()))
        .collect()
}

/// The distinct keys of `keys`, in their first order.
fn unique(keys: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// Runs [`distinct_keys_keep_their_records`] on each group, on one store.
fn distinct_groups<S>(
    property: &str,
    harness: &Harness,
    fixed: Vec<Vec<String>>,
    cases: &S,
) -> Verdict
where
    S: Strategy<Value = Vec<String>>,
{
    let Some(fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let rules = Rules::of(harness, &*store);
    run(
        property,
        harness,
        store.name(),
        fixed,
        cases,
        |keys| -> Case { distinct_keys_keep_their_records(&*store, rules, keys) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_length_keys_share_exactly_the_prefix() {
        let keys = same_length_keys(4096, 250, 3);
        assert!(keys.iter().all(|k| k.len() == 4096));
        assert_eq!(keys[0][..250], keys[1][..250]);
        assert_ne!(keys[0].as_bytes()[250], keys[1].as_bytes()[250]);
        assert_eq!(unique(keys.clone()).len(), 3);
    }

    #[test]
    fn many_keys_and_records_are_all_distinct() {
        let keys = unique((0..MANY).map(many_key).collect());
        assert_eq!(keys.len(), MANY);
        assert!(keys.iter().all(|k| k.is_ascii() && k.trim() == k));
        assert_ne!(many_record(1), many_record(2));
    }
}
