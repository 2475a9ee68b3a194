//! The checkers the properties are made of, public so a store author can add a property for
//! their store's own rule (see the crate docs for an example).
//!
//! A property is a function `fn(&Harness) -> Verdict`. It usually gets a store from
//! [`Harness::fresh`], runs fixed and random cases through [`run`], and inside each case calls
//! the store through [`call`] and compares what comes back with [`check_read`] and
//! [`check_ttl`], which know what a lossy store or one with native expiry may do. Every
//! message shows keys and records bounded ([`show_key`], [`show_record`], [`brief`]), so a
//! failure never prints kilobytes.

use std::fmt::Debug;
use std::time::Duration;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use memo_core::{Clock, Record, Store, SystemClock};

use crate::{Fixture, Harness, Verdict};

/// The outcome of one case: `Err` carries why it failed (proptest shrinks on it).
pub type Case = Result<(), TestCaseError>;

/// What a store may do besides returning exactly what was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The store may forget any record (from [`Harness::is_lossy`]).
    pub lossy: bool,
    /// The store drops records once their expiry has passed
    /// ([`Capabilities::native_expiry`](memo_core::Capabilities)).
    pub native_expiry: bool,
}

impl Rules {
    /// The rules for `store` under test in `harness`.
    pub fn of(harness: &Harness, store: &dyn Store) -> Self {
        Rules {
            lossy: harness.is_lossy(store),
            native_expiry: store.capabilities().native_expiry,
        }
    }

    /// Whether `record` may be missing at `now`: forgotten by a lossy store, or expired
    /// natively.
    pub fn may_vanish(self, record: &Record, now: f64) -> bool {
        self.lossy || (self.native_expiry && record.is_expired(now))
    }
}

/// Checks a read of `key` against the record last set under it (`None`: nothing set, or
/// deleted). Exact stores must return exactly that record; a lossy one may return `None`
/// instead, and one with native expiry may once the record has expired; none may return another
/// record.
///
/// # Errors
/// A failed case saying what came back and what was expected.
pub fn check_read(
    key: &str,
    got: Option<&Record>,
    expected: Option<&Record>,
    rules: Rules,
) -> Case {
    match (got, expected) {
        (None, None) => Ok(()),
        (Some(got), Some(expected)) if got == expected => Ok(()),
        // Measured after the read, so a record that expired during it may count as gone.
        (None, Some(expected)) if rules.may_vanish(expected, now()) => Ok(()),
        (got, expected) => Err(fail(format!(
            "get({}) returned {}, expected {}{}",
            show_key(key),
            show_record(got),
            show_record(expected),
            if rules.lossy && expected.is_some() {
                " or None (lossy store)"
            } else {
                ""
            }
        ))),
    }
}

/// Checks a `ttl` answer, asked between the times `before` and `after`, for a key holding
/// `record`: never more than the record had left at `before`; `None` for a missing, expired or
/// never-expiring record; `Some` for a live one of an exact store (with a second of slack).
///
/// # Errors
/// A failed case saying what `ttl` answered and why it is wrong.
pub fn check_ttl(
    key: &str,
    ttl: Option<Duration>,
    record: Option<&Record>,
    before: f64,
    after: f64,
    rules: Rules,
) -> Case {
    let key = show_key(key);
    let expiry = record.and_then(|r| r.expiry);
    match (ttl, expiry) {
        (Some(ttl), None) => Err(fail(format!(
            "ttl({key}) returned {ttl:?} for {}",
            if record.is_some() {
                "a record that never expires"
            } else {
                "a missing record"
            }
        ))),
        // A NaN expiry never comes; any answer is below the truth.
        (_, Some(expiry)) if expiry.is_nan() => Ok(()),
        (Some(ttl), Some(expiry)) if expiry <= before => Err(fail(format!(
            "ttl({key}) returned {ttl:?} for a record that expired {:.3} s before the call",
            before - expiry
        ))),
        // The truth at any moment of the call is at most `expiry - before`; 1 us absorbs the
        // rounding of unix seconds held in an f64.
        (Some(ttl), Some(expiry)) if ttl.as_secs_f64() > expiry - before + 1.0e-6 => {
            Err(fail(format!(
                "ttl({key}) returned {ttl:?}, more than the {:.6} s the record had left",
                expiry - before
            )))
        }
        (None, Some(expiry)) if expiry > after + 1.0 && !rules.lossy => Err(fail(format!(
            "ttl({key}) returned None for a record with {:.3} s left",
            expiry - after
        ))),
        _ => Ok(()),
    }
}

/// Runs `test` on each of the `fixed` cases, then on [`Harness::case_count`] random ones drawn
/// from `strategy` (shrunk to a minimal failing input by proptest), and words the first
/// failure as `<property> does not hold for the <store> store: <why>`, with the failing input
/// shown by [`brief`].
///
/// # Errors
/// The worded failure.
pub fn run<S>(
    property: &str,
    harness: &Harness,
    store: &str,
    fixed: Vec<S::Value>,
    strategy: &S,
    test: impl Fn(&S::Value) -> Case,
) -> Verdict
where
    S: Strategy,
    S::Value: Debug,
{
    let failed = |why: &dyn std::fmt::Display, input: &dyn Debug| {
        trim(format!(
            "{property} does not hold for the {store} store: {why}\nfailing input: {}",
            brief(input)
        ))
    };
    for case in &fixed {
        test(case).map_err(|e| failed(&reason(&e), case))?;
    }
    match runner(harness).run(strategy, |case| test(&case)) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, input)) => Err(failed(&why, &input)),
        Err(TestError::Abort(why)) => Err(trim(format!(
            "{property} could not run on the {store} store: {why}"
        ))),
    }
}

/// Runs `property` on `harness` and panics with its account when it fails: the body of a
/// `#[test]` for a property of one's own.
///
/// # Panics
/// When the property does not hold, with its account as the message.
#[track_caller]
pub fn assert_holds(property: fn(&Harness) -> Verdict, harness: &Harness) {
    if let Err(why) = property(harness) {
        panic!("{why}");
    }
}

/// Runs `test` once on a fresh store of `harness`, and words its failure as [`run`] does.
///
/// # Errors
/// The worded failure, or the harness's failure to make a store.
pub fn run_once(
    property: &str,
    harness: &Harness,
    test: impl FnOnce(&mut Fixture, Rules) -> Case,
) -> Verdict {
    let Some(mut fixture) = harness.fresh()? else {
        return Ok(());
    };
    let store = fixture.store();
    let (name, rules) = (store.name(), Rules::of(harness, &*store));
    drop(store);
    test(&mut fixture, rules).map_err(|e| {
        trim(format!(
            "{property} does not hold for the {name} store: {}",
            reason(&e)
        ))
    })
}

/// The reason a case failed, without proptest's "Case failed: " in front.
pub fn reason(e: &TestCaseError) -> String {
    match e {
        TestCaseError::Fail(why) | TestCaseError::Reject(why) => why.to_string(),
    }
}

/// A proptest runner for `harness.case_count()` cases (from its seed, if fixed) that writes no
/// regression files, and
/// shrinks a failure for at most 30 s (networked stores make each try slow) unless
/// `PROPTEST_MAX_SHRINK_TIME` says otherwise.
fn runner(harness: &Harness) -> TestRunner {
    let defaults = Config::default();
    let max_shrink_time = match defaults.max_shrink_time {
        0 => 30_000,
        set => set,
    };
    let rng_seed = harness
        .fixed_seed()
        .map_or(defaults.rng_seed, RngSeed::Fixed);
    TestRunner::new(Config {
        cases: harness.case_count(),
        failure_persistence: None,
        max_shrink_time,
        rng_seed,
        ..defaults
    })
}

/// A fresh store for one random case.
///
/// # Errors
/// A failed case when the harness cannot make one.
pub fn fresh_case(harness: &Harness) -> Result<Fixture, TestCaseError> {
    harness
        .fresh()
        .map_err(fail)?
        .ok_or_else(|| fail("the harness stopped making stores"))
}

/// Turns a store error into a failed case that says which call failed.
///
/// # Errors
/// `what failed: <the error>`.
pub fn call<T>(what: &str, result: memo_core::Result<T>) -> Result<T, TestCaseError> {
    result.map_err(|e| fail(format!("{what} failed: {e}")))
}

/// A failed case with the reason `why`.
pub fn fail(why: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(why.into())
}

/// The current unix time, in seconds.
pub fn now() -> f64 {
    SystemClock.now()
}

/// A key for a message: keys over 48 characters show their first 24 and last 8, and their
/// length, so two long keys that differ near the end still read apart.
pub fn show_key(key: &str) -> String {
    let count = key.chars().count();
    if count <= 48 {
        format!("{key:?}")
    } else {
        let head: String = key.chars().take(24).collect();
        let tail: String = key.chars().skip(count - 8).collect();
        format!("{head:?}...{tail:?} ({} bytes)", key.len())
    }
}

/// A record for a message: times with their bits, etags and values over 16 bytes cut, with
/// their length.
pub fn show_record(record: Option<&Record>) -> String {
    fn bytes(b: &[u8]) -> String {
        if b.len() <= 16 {
            format!("{b:?}")
        } else {
            format!("{:?}... ({} bytes)", &b[..16], b.len())
        }
    }
    let Some(r) = record else {
        return "None".to_owned();
    };
    format!(
        "Record {{ created: {} ({:#x}), expiry: {}, etag: {}, value: {} }}",
        r.created,
        r.created.to_bits(),
        r.expiry
            .map_or("None".to_owned(), |e| format!("{e} ({:#x})", e.to_bits())),
        r.etag.as_deref().map_or("None".to_owned(), bytes),
        bytes(&r.value)
    )
}

/// Any value for a message, bounded: its `Debug` text with every string over 48 characters cut
/// to its first 24 and last 8 (plus its length in bytes) and every list over 16 items cut to its
/// first 8 (plus its length), and the whole cut at 2,000 characters. A 4 KiB key or a 16 MiB value
/// prints as a few dozen characters.
pub fn brief(value: &dyn Debug) -> String {
    const TOTAL: usize = 2000;
    let text = abbreviate(&format!("{value:?}"));
    if text.chars().count() <= TOTAL {
        return text;
    }
    let head: String = text.chars().take(TOTAL).collect();
    format!("{head}... ({} characters)", text.chars().count())
}

/// Cuts long string literals and long lists in `Debug` text.
fn abbreviate(text: &str) -> String {
    const STRING: usize = 48;
    const LIST: usize = 16;
    const KEPT: usize = 8;
    /// An open bracket: whether it is a list (`[`), its items so far, whether it is cut.
    struct List {
        list: bool,
        items: usize,
        cut: bool,
    }
    let mut out = String::with_capacity(text.len().min(4096));
    let mut lists: Vec<List> = Vec::new();
    // Output is suppressed while any open list is past its kept items.
    let hidden = |lists: &[List]| lists.iter().any(|l| l.cut);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                let literal = string_literal(&chars, i);
                if !hidden(&lists) {
                    if literal.chars > STRING {
                        out.extend(&chars[i..literal.head_end]);
                        out.push_str("\"...\"");
                        out.extend(&chars[literal.tail_start..literal.end]);
                        out.push_str(&format!(" ({} bytes)", literal.bytes));
                    } else {
                        out.extend(&chars[i..literal.end]);
                    }
                }
                i = literal.end;
                continue;
            }
            '\'' if char_literal_end(&chars, i).is_some() => {
                // A char literal, which may hold a quote or a bracket.
                let end = char_literal_end(&chars, i).unwrap_or(i);
                if !hidden(&lists) {
                    out.extend(&chars[i..=end]);
                }
                i = end + 1;
                continue;
            }
            '[' | '(' | '{' => {
                if !hidden(&lists) {
                    out.push(c);
                }
                lists.push(List {
                    list: c == '[',
                    items: 1,
                    cut: false,
                });
            }
            ',' => {
                if let Some(list) = lists.last_mut().filter(|l| l.list) {
                    list.items += 1;
                    if list.items > KEPT && !list.cut {
                        // Count the rest before deciding: short lists are shown whole.
                        let total = count_items(&chars, i, list.items);
                        if total > LIST {
                            list.cut = true;
                            out.push_str(&format!(", ... ({total} items)"));
                        }
                    }
                }
                if !hidden(&lists) {
                    out.push(c);
                }
            }
            ']' | ')' | '}' => {
                lists.pop();
                if !hidden(&lists) {
                    out.push(c);
                }
            }
            _ => {
                if !hidden(&lists) {
                    out.push(c);
                }
            }
        }
        i += 1;
    }
    out
}

/// The index of the closing quote of the char literal opening at `chars[start]`, if it is one.
fn char_literal_end(chars: &[char], start: usize) -> Option<usize> {
    match chars.get(start + 1)? {
        '\\' => (start + 3..chars.len().min(start + 14)).find(|&j| chars[j] == '\''),
        _ => (chars.get(start + 2) == Some(&'\'')).then_some(start + 2),
    }
}

/// A string literal in `Debug` text.
struct Literal {
    /// The index just after its closing quote.
    end: usize,
    /// The index after its first [`KEPT_CHARS`] characters (escapes count as one).
    head_end: usize,
    /// The index of its last [`TAIL_CHARS`] characters.
    tail_start: usize,
    chars: usize,
    bytes: usize,
}

const KEPT_CHARS: usize = 24;
const TAIL_CHARS: usize = 8;

/// The string literal starting at `chars[start]` (a `"`), measured once unescaped.
fn string_literal(chars: &[char], start: usize) -> Literal {
    let mut i = start + 1;
    let (mut len_chars, mut len_bytes, mut head_end) = (0, 0, None);
    // Where each of the last few characters starts, to show the literal's end.
    let mut starts = std::collections::VecDeque::with_capacity(TAIL_CHARS);
    while i < chars.len() && chars[i] != '"' {
        if starts.len() == TAIL_CHARS {
            starts.pop_front();
        }
        starts.push_back(i);
        let unescaped = if chars[i] == '\\' && i + 1 < chars.len() {
            i += 1;
            match chars[i] {
                'u' => {
                    let close = (i..chars.len()).find(|&j| chars[j] == '}').unwrap_or(i);
                    let hex: String = chars[(i + 2).min(close)..close].iter().collect();
                    i = close;
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('?')
                }
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                '0' => '\0',
                other => other,
            }
        } else {
            chars[i]
        };
        len_chars += 1;
        len_bytes += unescaped.len_utf8();
        i += 1;
        if len_chars == KEPT_CHARS {
            head_end = Some(i);
        }
    }
    let end = (i + 1).min(chars.len());
    Literal {
        end,
        head_end: head_end.unwrap_or(end),
        tail_start: starts.front().copied().unwrap_or(i),
        chars: len_chars,
        bytes: len_bytes,
    }
}

/// The number of items of the list whose `items`-th item starts after the `,` at `at`.
fn count_items(chars: &[char], at: usize, items: usize) -> usize {
    let (mut depth, mut count, mut i) = (0_usize, items, at + 1);
    while i < chars.len() {
        match chars[i] {
            '"' => {
                i = string_literal(chars, i).end;
                continue;
            }
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' if depth == 0 => return count,
            ']' | ')' | '}' => depth -= 1,
            ',' if depth == 0 => count += 1,
            _ => {}
        }
        i += 1;
    }
    count
}

/// Keeps failure messages readable when inputs hold 4 KiB keys.
pub(crate) fn trim(mut message: String) -> String {
    const LIMIT: usize = 6000;
    if message.len() > LIMIT {
        let mut end = LIMIT;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("... (cut)");
    }
    message
}

/// Sets one distinct record under each of `keys` (which must be distinct), reads each back,
/// then deletes them one at a time, checking after each delete that the others are untouched: no
/// two keys may share a record, whatever the store does to keys.
///
/// # Errors
/// A failed case naming the keys that met, or the first wrong answer.
pub fn distinct_keys_keep_their_records(store: &dyn Store, rules: Rules, keys: &[String]) -> Case {
    let records: Vec<Record> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            Record::new(i as f64, None, format!("{i}:{}", key.len()).into_bytes())
                .with_etag((i as u32).to_le_bytes().to_vec())
        })
        .collect();
    // Names the key whose record came back, when it is another key's.
    let whose = |got: Option<&Record>, mine: usize| -> String {
        got.and_then(|got| records.iter().position(|r| r == got))
            .filter(|&other| other != mine)
            .map_or_else(String::new, |other| {
                format!(
                    " (the record set under {}: the store does not keep the two keys apart)",
                    show_key(&keys[other])
                )
            })
    };
    for (key, record) in keys.iter().zip(&records) {
        call("set", store.set(key, record.clone()))?;
    }
    let mut present: Vec<bool> = vec![true; keys.len()];
    for (i, key) in keys.iter().enumerate() {
        let got = call("get", store.get(key))?;
        check_read(key, got.as_ref(), Some(&records[i]), rules)
            .map_err(|e| fail(format!("{}{}", reason(&e), whose(got.as_ref(), i))))?;
    }
    // In the order given, so that a store mapping later keys onto earlier ones loses them.
    for i in 0..keys.len() {
        let deleted = call("delete", store.delete(&keys[i]))?;
        if !deleted && !rules.lossy {
            return Err(fail(format!(
                "delete({}) returned false",
                show_key(&keys[i])
            )));
        }
        present[i] = false;
        for (j, key) in keys.iter().enumerate() {
            let got = call("get", store.get(key))?;
            let expected = present[j].then(|| &records[j]);
            check_read(key, got.as_ref(), expected, rules).map_err(|e| {
                fail(format!(
                    "after delete({}): {}{}",
                    show_key(&keys[i]),
                    reason(&e),
                    whose(got.as_ref(), j)
                ))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: Rules = Rules {
        lossy: false,
        native_expiry: false,
    };
    const LOSSY: Rules = Rules {
        lossy: true,
        native_expiry: false,
    };

    fn expiring(expiry: Option<f64>) -> Record {
        Record::new(0.0, expiry, Vec::new())
    }

    #[test]
    fn ttl_check_bounds_by_the_time_before_the_call() {
        let r = expiring(Some(110.0));
        let ok = |ttl| check_ttl("k", Some(ttl), Some(&r), 100.0, 100.5, EXACT).is_ok();
        assert!(ok(Duration::from_secs(10)));
        assert!(ok(Duration::from_secs(9)));
        assert!(!ok(Duration::from_millis(10_001)));
        assert!(!ok(Duration::MAX));
    }

    #[test]
    fn ttl_check_wants_none_for_missing_expired_and_endless_records() {
        let some = Some(Duration::ZERO);
        assert!(check_ttl("k", some, None, 100.0, 100.0, EXACT).is_err());
        assert!(check_ttl("k", some, Some(&expiring(None)), 100.0, 100.0, EXACT).is_err());
        assert!(check_ttl("k", some, Some(&expiring(Some(99.0))), 100.0, 100.0, EXACT).is_err());
        assert!(check_ttl("k", None, Some(&expiring(Some(99.0))), 100.0, 100.0, EXACT).is_ok());
        assert!(check_ttl("k", some, Some(&expiring(Some(f64::NAN))), 1.0, 1.0, EXACT).is_ok());
    }

    #[test]
    fn ttl_check_forgives_none_only_in_lossy_stores() {
        let live = expiring(Some(200.0));
        assert!(check_ttl("k", None, Some(&live), 100.0, 100.0, EXACT).is_err());
        assert!(check_ttl("k", None, Some(&live), 100.0, 100.0, LOSSY).is_ok());
    }

    #[test]
    fn read_check_forgives_forgetting_never_staleness() {
        let old = Record::new(1.0, None, b"old".to_vec());
        let new = Record::new(2.0, None, b"new".to_vec());
        assert!(check_read("k", Some(&new), Some(&new), EXACT).is_ok());
        assert!(check_read("k", None, Some(&new), EXACT).is_err());
        assert!(check_read("k", None, Some(&new), LOSSY).is_ok());
        assert!(check_read("k", Some(&old), Some(&new), LOSSY).is_err());
        assert!(check_read("k", Some(&old), None, LOSSY).is_err());
    }

    #[test]
    fn read_check_lets_native_expiry_drop_only_expired_records() {
        let native = Rules {
            lossy: false,
            native_expiry: true,
        };
        assert!(check_read("k", None, Some(&expiring(Some(1.0))), native).is_ok());
        assert!(check_read("k", None, Some(&expiring(Some(now() + 60.0))), native).is_err());
        assert!(check_read("k", None, Some(&expiring(Some(f64::NAN))), native).is_err());
    }

    #[test]
    fn trim_cuts_long_messages_at_a_char_boundary() {
        let cut = trim("é".repeat(4000));
        assert!(cut.ends_with("... (cut)"));
        assert!(cut.len() < 6100);
        assert_eq!(trim("short".to_owned()), "short");
    }

    #[test]
    fn brief_cuts_long_strings_and_lists_and_keeps_short_ones() {
        let long = ("k".repeat(4096), vec![7_u8; 5000], "short", vec![1, 2, 3]);
        let text = brief(&long);
        assert!(text.len() < 200, "{text}");
        assert!(text.contains("\"...\"kkkkkkkk\" (4096 bytes)"), "{text}");
        assert!(text.contains("... (5000 items)]"), "{text}");
        assert!(text.contains("\"short\""), "{text}");
        assert!(text.contains("[1, 2, 3]"), "{text}");
        let record = Record::new(1.0, None, vec![0_u8; 1 << 20]).with_etag(vec![1_u8; 3]);
        let text = brief(&("é\"[".repeat(100), '"', '[', Some(record)));
        assert!(text.len() < 400, "{text}");
        assert!(text.contains("(400 bytes)"), "{text}");
        assert!(text.contains("etag: Some([1, 1, 1])"), "{text}");
        assert!(text.contains("(1048576 items)]"), "{text}");
    }

    #[test]
    fn brief_counts_nested_lists_as_one_item() {
        let nested: Vec<Vec<u8>> = vec![vec![1; 20]; 3];
        let text = brief(&nested);
        assert_eq!(text.matches("(20 items)").count(), 3, "{text}");
    }
}
