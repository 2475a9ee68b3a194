//! `memo ls`, `show`, `rm`, `purge`, `stats` and `compact`: looking inside a store through the
//! `Store` trait (and redb's own compaction).

use std::io::{self, IsTerminal, Write};

use memo::Record;
use memo::url::StoreUrl;
use serde::Serialize;
use serde_json::json;

use crate::cli::Inspect;
use crate::exec::{Captured, Stream, now};
use crate::fail::Fail;
use crate::output::{hex, print_json, size, span, when};
use crate::store::{self, Handle};

/// Runs an inspection command.
pub(crate) fn run(command: &Inspect, url: Option<&str>, json: bool) -> Result<(), Fail> {
    let url = store::parse(url)?;
    let handle = store::open(&url, false)?;
    match command {
        Inspect::Ls { prefix } => ls(&handle, prefix.as_deref().unwrap_or(""), json),
        Inspect::Show { key } => show(&handle, key, json),
        Inspect::Rm { key, prefix } => rm(&handle, key.as_deref(), prefix.as_deref(), json),
        Inspect::Purge => purge(&handle, &url, json),
        Inspect::Stats => stats(&handle, json),
        Inspect::Compact => compact(&handle, &url, json),
    }
}

/// One record as `ls` shows it.
#[derive(Debug, Serialize)]
struct Entry {
    key: String,
    /// Unix seconds.
    created: f64,
    age_secs: f64,
    /// Unix seconds; `null` never expires.
    expiry: Option<f64>,
    /// Time left; `null` never expires, 0 once expired.
    ttl_secs: Option<f64>,
    expired: bool,
    /// The encoded record's bytes (the key not included).
    size: u64,
    etag: bool,
}

impl Entry {
    fn new(key: String, record: &Record, now: f64) -> Self {
        Entry {
            key,
            created: record.created,
            age_secs: (now - record.created).max(0.0),
            expiry: record.expiry,
            ttl_secs: record.remaining(now).map(|d| d.as_secs_f64()),
            expired: record.is_expired(now),
            size: record.encoded_len() as u64,
            etag: record.etag.is_some(),
        }
    }
}

/// A count on stderr while a long scan reads records, only when stderr is a terminal.
struct Progress {
    total: usize,
    done: usize,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            shown: false,
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        if self.total < 1000 || !self.done.is_multiple_of(100) || !io::stderr().is_terminal() {
            return;
        }
        let width = 30;
        let filled = self.done * width / self.total;
        eprint!(
            "\r[{}{}] {}/{} records",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total
        );
        self.shown = true;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            eprint!("\r{}\r", " ".repeat(60));
        }
    }
}

/// Every record under `prefix`, sorted by key; damaged records are reported on stderr.
fn entries(handle: &Handle, prefix: &str) -> Result<Vec<(String, Record)>, Fail> {
    let store = handle.store();
    let mut keys = store.scan(prefix)?;
    keys.sort_unstable();
    let mut progress = Progress::new(keys.len());
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        progress.tick();
        match store.get(&key) {
            Ok(Some(record)) => out.push((key, record)),
            // Removed (or expired, in Redis) since the scan.
            Ok(None) => {}
            Err(memo::Error::Codec(why)) => eprintln!("memo: {key:?}: damaged record: {why}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn ls(handle: &Handle, prefix: &str, json: bool) -> Result<(), Fail> {
    let now = now();
    let list: Vec<Entry> = entries(handle, prefix)?
        .into_iter()
        .map(|(key, record)| Entry::new(key, &record, now))
        .collect();
    if json {
        return print_json(&list);
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{:>9} {:>9} {:>10} {:4} KEY",
        "AGE", "TTL", "SIZE", "ETAG"
    );
    for e in &list {
        let ttl = match (e.expired, e.ttl_secs) {
            (true, _) => "expired".to_owned(),
            (false, None) => "never".to_owned(),
            (false, Some(left)) => span(left),
        };
        let etag = if e.etag { "yes" } else { "-" };
        let line = writeln!(
            out,
            "{:>9} {ttl:>9} {:>10} {etag:4} {}",
            span(e.age_secs),
            size(e.size),
            e.key
        );
        if line.is_err() {
            break;
        }
    }
    Ok(())
}

fn show(handle: &Handle, key: &str, json: bool) -> Result<(), Fail> {
    let Some(record) = handle.store().get(key)? else {
        return Err(Fail::NotFound(format!("no record under {key:?}")));
    };
    let now = now();
    let entry = Entry::new(key.to_owned(), &record, now);
    let captured = key
        .starts_with("exec:")
        .then(|| Captured::decode(&record.value))
        .flatten();
    let text = postcard_string(&record.value);
    if json {
        let lossy = |s: Stream| {
            captured
                .as_ref()
                .map(|c| String::from_utf8_lossy(&c.stream(s)).into_owned())
        };
        return print_json(&json!({
            "key": entry.key,
            "created": entry.created,
            "age_secs": entry.age_secs,
            "expiry": entry.expiry,
            "ttl_secs": entry.ttl_secs,
            "expired": entry.expired,
            "size": entry.size,
            "etag_hex": record.etag.as_deref().map(|e| hex(e, usize::MAX)),
            "value_hex": hex(&record.value, usize::MAX),
            "text": text,
            "exec": captured.as_ref().map(|c| json!({
                "code": c.code,
                "millis": c.millis,
                "stdout": lossy(Stream::Out),
                "stderr": lossy(Stream::Err),
            })),
        }));
    }
    let mut out = String::new();
    out.push_str(&format!("key:      {key}\n"));
    out.push_str(&format!(
        "created:  {} ({} ago)\n",
        when(record.created),
        span(entry.age_secs)
    ));
    match (record.expiry, entry.expired) {
        (None, _) => out.push_str("expires:  never\n"),
        (Some(at), true) => out.push_str(&format!(
            "expires:  {} (expired {} ago)\n",
            when(at),
            span(now - at)
        )),
        (Some(at), false) => out.push_str(&format!(
            "expires:  {} (in {})\n",
            when(at),
            span(entry.ttl_secs.unwrap_or(0.0))
        )),
    }
    out.push_str(&format!(
        "size:     {} (value {})\n",
        size(entry.size),
        size(record.value.len() as u64)
    ));
    match &record.etag {
        None => out.push_str("etag:     none\n"),
        Some(etag) => out.push_str(&format!("etag:     {}\n", hex(etag, 64))),
    }
    if let Some(run) = &captured {
        out.push_str(&format!(
            "value:    a memo exec run: exit status {}, ran {} ms\n",
            run.code, run.millis
        ));
        for (name, stream) in [("stdout", Stream::Out), ("stderr", Stream::Err)] {
            let bytes = run.stream(stream);
            out.push_str(&format!("--- {name} ({}) ---\n", size(bytes.len() as u64)));
            out.push_str(&String::from_utf8_lossy(&bytes));
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                out.push('\n');
            }
        }
    } else {
        out.push_str(&format!(
            "value:    {} of postcard\n  hex:    {}\n",
            size(record.value.len() as u64),
            hex(&record.value, 512)
        ));
        if let Some(text) = text {
            out.push_str(&format!("  text:   {text:?}\n"));
        }
    }
    let _ = io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}

/// The text in `value` when it is exactly one postcard string (a varint length, then UTF-8).
fn postcard_string(value: &[u8]) -> Option<String> {
    match postcard::take_from_bytes::<String>(value) {
        Ok((text, [])) if !value.is_empty() => Some(text),
        _ => None,
    }
}

fn rm(handle: &Handle, key: Option<&str>, prefix: Option<&str>, json: bool) -> Result<(), Fail> {
    let store = handle.store();
    let removed = match (key, prefix) {
        (Some(key), _) => {
            if !store.delete(key)? {
                return Err(Fail::NotFound(format!("no record under {key:?}")));
            }
            1
        }
        (None, Some(prefix)) => {
            let mut removed = 0_u64;
            let keys = store.scan(prefix)?;
            let mut progress = Progress::new(keys.len());
            for key in keys {
                progress.tick();
                removed += u64::from(store.delete(&key)?);
            }
            removed
        }
        (None, None) => return Err(Fail::Config("rm needs a KEY or --prefix".into())),
    };
    if json {
        return print_json(&json!({ "removed": removed }));
    }
    println!("removed {removed} record{}", plural(removed));
    Ok(())
}

fn purge(handle: &Handle, url: &StoreUrl, json: bool) -> Result<(), Fail> {
    let store = handle.store();
    let removed = store.purge_expired(now())?;
    let locks = match handle {
        Handle::Redb(db) => db
            .path()
            .map_or(Ok(0), store::remove_idle_locks)
            .map_err(|e| Fail::Down(format!("removing idle lock files: {e}")))?,
        Handle::Any(_) => 0,
    };
    let native = store.capabilities().native_expiry;
    if json {
        return print_json(&json!({
            "removed": removed,
            "lock_files_removed": locks,
            "native_expiry": native,
        }));
    }
    println!("removed {removed} expired record{}", plural(removed));
    if locks > 0 {
        println!("removed {locks} idle lock file{}", plural(locks));
    }
    if native {
        println!("({} expires records itself)", url.scheme());
    }
    Ok(())
}

fn stats(handle: &Handle, json: bool) -> Result<(), Fail> {
    let now = now();
    let all = entries(handle, "")?;
    let count = all.len() as u64;
    let bytes: u64 = all
        .iter()
        .map(|(k, r)| (k.len() + r.encoded_len()) as u64)
        .sum();
    let expired = all.iter().filter(|(_, r)| r.is_expired(now)).count() as u64;
    let oldest = all
        .iter()
        .min_by(|a, b| a.1.created.total_cmp(&b.1.created))
        .map(|(k, r)| (k.clone(), r.created));
    let file_bytes = match handle {
        Handle::Redb(db) => db
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len()),
        Handle::Any(_) => None,
    };
    if json {
        return print_json(&json!({
            "count": count,
            "bytes": bytes,
            "expired": expired,
            "oldest_key": oldest.as_ref().map(|o| &o.0),
            "oldest_created": oldest.as_ref().map(|o| o.1),
            "file_bytes": file_bytes,
        }));
    }
    println!("records:  {count}");
    println!("bytes:    {} (keys and encoded records)", size(bytes));
    if let Some(file) = file_bytes {
        println!("file:     {}", size(file));
    }
    println!("expired:  {expired}");
    if let Some((key, created)) = oldest {
        println!(
            "oldest:   {} ({} ago) {key}",
            when(created),
            span(now - created)
        );
    }
    Ok(())
}

fn compact(handle: &Handle, url: &StoreUrl, json: bool) -> Result<(), Fail> {
    let (before, after, changed) = match handle {
        Handle::Redb(db) => {
            let len = || {
                db.path()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len())
            };
            let before = len();
            let changed = db.compact()?;
            (before, len(), changed)
        }
        Handle::Any(_) if matches!(url, StoreUrl::Redb { .. }) => (0, 0, false),
        Handle::Any(_) => {
            return Err(Fail::Unsupported(format!(
                "the {} store has no compaction",
                url.scheme()
            )));
        }
    };
    if json {
        return print_json(&json!({
            "compacted": changed,
            "bytes_before": before,
            "bytes_after": after,
        }));
    }
    if changed {
        println!("compacted: {} -> {}", size(before), size(after));
    } else {
        println!("nothing to compact ({})", size(after));
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
