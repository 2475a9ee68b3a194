//! The write-ahead journal of [`Durability::Journaled`](crate::Durability::Journaled): every
//! write reaches a file beside the database before `set` or `delete` returns.
//!
//! The journal is a sequence of generation files, `<database file>.journal.<generation>`. Each
//! starts with a header naming the store's table, then holds entries:
//! `[u64 body length][u64 xxh3 of the body, seeded with its length][body]`, the body being
//! `[u8 op][u64 ordered expiry][u64 key length][key][encoded record]`. Writers append entries to
//! an in-memory buffer under the write queue's lock (so the journal's order is the queue's) and
//! the first of them to reach the file writes everyone's entries in one `write(2)` (group commit);
//! nothing is `fsync`ed. Each durable commit of the database starts a new generation and, once it
//! succeeds, deletes the older ones, which it covers; it also saves the newest generation it
//! covers, so a generation whose deletion an OS crash undid is never replayed over newer data.
//!
//! A killed process leaves at most a torn last entry, which replay detects by its length or
//! checksum and ignores, with everything after it in that file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every journal file.
const MAGIC: &[u8; 8] = b"memojnl1";
/// An entry's length and checksum.
const ENTRY_HEAD: usize = 16;

pub(crate) const SET: u8 = 1;
pub(crate) const DELETE: u8 = 2;
/// A purge: the expiry field holds its end, the key is empty.
pub(crate) const PURGE: u8 = 3;

/// One journaled write, borrowed from the reader's buffer.
pub(crate) enum Op<'a> {
    Set {
        key: &'a str,
        expiry: u64,
        record: &'a [u8],
    },
    Delete {
        key: &'a str,
    },
    /// Removes the records whose ordered expiry is below `end`.
    Purge {
        end: u64,
    },
}

/// Appends one entry to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, op: u8, key: &str, expiry: u64, record: &[u8]) -> usize {
    let body = 1 + 8 + 8 + key.len() + record.len();
    let start = buf.len();
    buf.reserve(ENTRY_HEAD + body);
    buf.extend_from_slice(&(body as u64).to_le_bytes());
    buf.extend_from_slice(&[0; 8]);
    buf.push(op);
    buf.extend_from_slice(&expiry.to_le_bytes());
    buf.extend_from_slice(&(key.len() as u64).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(record);
    let sum = checksum(body as u64, &buf[start + ENTRY_HEAD..]);
    buf[start + 8..start + ENTRY_HEAD].copy_from_slice(&sum.to_le_bytes());
    buf.len() - start
}

fn parse(body: &[u8]) -> Option<Op<'_>> {
    let (&op, rest) = body.split_first()?;
    let (expiry, rest) = rest.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if len > rest.len() {
        return None;
    }
    let (key, record) = rest.split_at(len);
    let key = std::str::from_utf8(key).ok()?;
    match op {
        SET => Some(Op::Set {
            key,
            expiry: u64::from_le_bytes(*expiry),
            record,
        }),
        DELETE if record.is_empty() => Some(Op::Delete { key }),
        PURGE if key.is_empty() && record.is_empty() => Some(Op::Purge {
            end: u64::from_le_bytes(*expiry),
        }),
        _ => None,
    }
}

fn header(table: &str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(table.len() as u64).to_le_bytes());
    out.extend_from_slice(table.as_bytes());
    let sum = checksum(0, &out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// The checksum of `bytes`, seeded with `seed` (an entry's length, so that a damaged length
/// fails the check too).
fn checksum(seed: u64, bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
}

/// The journal file of generation `generation` for the database file `base`.
pub(crate) fn path(base: &Path, generation: u64) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_owned();
    name.push(format!(".journal.{generation}"));
    base.with_file_name(name)
}

/// The journal generations on disk for the database file `base`, oldest first.
pub(crate) fn generations(base: &Path) -> io::Result<Vec<u64>> {
    let dir = match base.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = base.file_name().unwrap_or_default().to_owned();
    prefix.push(".journal.");
    let prefix = prefix.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(generation) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|g| g.parse::<u64>().ok())
        {
            found.push(generation);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// What reading a journal file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The file is another table's journal, or not a journal: leave it alone.
    Foreign,
    /// The file is ours (or holds no entry: a header cut short by a kill); `entries` were read,
    /// and `torn` tells whether bytes after them did not form a whole, intact entry.
    Ours { entries: u64, torn: bool },
}

/// Whether the journal file at `path` belongs to the store's `table` (or holds no entry), from
/// its header alone.
///
/// # Errors
/// The file cannot be read.
pub(crate) fn is_ours(path: &Path, table: &str) -> io::Result<bool> {
    let expected = header(table);
    let mut head = vec![0; expected.len()];
    let got = read_up_to(&mut File::open(path)?, &mut head)?;
    Ok(head[..got] == expected[..got])
}

/// Reads the journal file at `path` of the store's `table`, handing each intact entry to
/// `apply` in order, and stopping at the first entry that is cut short or damaged.
///
/// # Errors
/// The file cannot be read, or `apply` fails.
pub(crate) fn read<E: From<io::Error>>(
    path: &Path,
    table: &str,
    mut apply: impl FnMut(Op<'_>) -> Result<(), E>,
) -> Result<Found, E> {
    let file = File::open(path)?;
    let mut left = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let expected = header(table);
    let mut head = vec![0; expected.len()];
    let got = read_up_to(&mut reader, &mut head)?;
    if got < expected.len() && head[..got] == expected[..got] {
        // Killed between creating the file and writing its header: no entry follows.
        return Ok(Found::Ours {
            entries: 0,
            torn: got > 0,
        });
    }
    if head != expected {
        return Ok(Found::Foreign);
    }
    left -= head.len() as u64;
    let mut entries = 0;
    let mut body = Vec::new();
    loop {
        let mut entry = [0; ENTRY_HEAD];
        let got = read_up_to(&mut reader, &mut entry)?;
        if got == 0 {
            return Ok(Found::Ours {
                entries,
                torn: false,
            });
        }
        let torn = Ok(Found::Ours {
            entries,
            torn: true,
        });
        if got < ENTRY_HEAD {
            return torn;
        }
        left -= ENTRY_HEAD as u64;
        let (len, sum) = entry.split_at(8);
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        // A damaged length must not make us allocate more than the file holds.
        if len > left {
            return torn;
        }
        body.resize(usize::try_from(len).map_err(io::Error::other)?, 0);
        reader.read_exact(&mut body)?;
        left -= len;
        if checksum(len, &body).to_le_bytes() != sum {
            return torn;
        }
        let Some(op) = parse(&body) else {
            return torn;
        };
        apply(op)?;
        entries += 1;
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Deletes the journal files of `generations`; a missing one is not an error.
pub(crate) fn remove(base: &Path, generations: impl IntoIterator<Item = u64>) {
    for generation in generations {
        let path = path(base, generation);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "memo-redb: cannot delete a journal file");
            }
        }
    }
}

/// The file being appended to: generation `generation`, created at its first entry.
pub(crate) struct Appender {
    base: PathBuf,
    table: String,
    /// The generation new entries go to.
    pub(crate) generation: u64,
    /// The oldest generation that may still have a file.
    pub(crate) oldest: u64,
    file: Option<File>,
    /// The length of `file` up to its last whole entry.
    len: u64,
    /// Every entry numbered up to this one has been written, or its write has failed.
    pub(crate) written: u64,
    /// Entry numbers `(first, last)` whose write failed, oldest first; a writer among them gets
    /// an error.
    failed: Vec<(u64, u64)>,
    /// Failures forgotten to keep `failed` short: entries up to this one count as failed.
    forgotten: u64,
    /// A spare buffer, so that group commits reuse their allocation.
    pub(crate) spare: Vec<u8>,
}

impl Appender {
    pub(crate) fn new(base: PathBuf, table: String, generation: u64) -> Self {
        Appender {
            base,
            table,
            generation,
            oldest: generation,
            file: None,
            len: 0,
            written: 0,
            failed: Vec::new(),
            forgotten: 0,
            spare: Vec::new(),
        }
    }

    /// Whether the write of entry `seq` failed; only meaningful once `seq <= written`.
    pub(crate) fn failed(&self, seq: u64) -> bool {
        seq <= self.forgotten || self.failed.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// Writes the entries `written + 1 ..= last`, encoded in `buf`, to the current generation.
    ///
    /// # Errors
    /// The file cannot be created or written; the entries then count as failed and the file
    /// is cut back to its last whole entry (or, failing that, a new generation starts).
    pub(crate) fn append(&mut self, buf: &[u8], last: u64) -> io::Result<()> {
        let first = self.written + 1;
        self.written = last;
        let result = self.try_append(buf);
        if result.is_err() {
            if self.failed.len() >= 64 {
                self.forgotten = self.failed[31].1;
                self.failed.drain(..32);
            }
            self.failed.push((first, last));
        }
        result
    }

    fn try_append(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(path(&self.base, self.generation))?;
            let header = header(&self.table);
            file.write_all(&header)?;
            self.len = header.len() as u64;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        match file.write_all(buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Leave no partial entry for later ones to follow: replay stops at it.
                let len = self.len;
                if file.set_len(len).is_err()
                    || io::Seek::seek(file, io::SeekFrom::Start(len)).is_err()
                {
                    self.file = None;
                    self.generation += 1;
                }
                Err(error)
            }
        }
    }

    /// Starts a new generation; returns it. Entries not yet written go to it.
    pub(crate) fn rotate(&mut self) -> u64 {
        self.file = None;
        self.generation += 1;
        self.generation
    }

    /// Forgets the generations before `generation`, which a durable commit covers; returns
    /// those whose files the caller should delete (outside the lock, not to hold up writers).
    pub(crate) fn covered_before(&mut self, generation: u64) -> std::ops::Range<u64> {
        let covered = self.oldest..generation.max(self.oldest);
        self.oldest = covered.end;
        covered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, entries: &[(u8, &str, &[u8])]) -> (PathBuf, Vec<u8>) {
        let base = dir.join("j.redb");
        let mut buf = Vec::new();
        for (op, key, record) in entries {
            encode(&mut buf, *op, key, 7, record);
        }
        let mut appender = Appender::new(base.clone(), "memo".into(), 1);
        appender.append(&buf, entries.len() as u64).unwrap();
        (path(&base, 1), buf)
    }

    fn keys(path: &Path, table: &str) -> (Found, Vec<String>) {
        let mut keys = Vec::new();
        let read = read::<io::Error>(path, table, |op| {
            keys.push(match op {
                Op::Set {
                    key,
                    expiry,
                    record,
                } => {
                    assert_eq!(expiry, 7);
                    format!("set {key} {}", record.len())
                }
                Op::Delete { key } => format!("del {key}"),
                Op::Purge { end } => format!("purge {end}"),
            });
            Ok(())
        })
        .unwrap();
        (read, keys)
    }

    #[test]
    fn every_cut_of_the_last_entry_is_detected_and_what_precedes_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = write(
            dir.path(),
            &[(SET, "a", b"xyz"), (DELETE, "a", b""), (SET, "b", b"12345")],
        );
        let full = fs::read(&file).unwrap();
        assert_eq!(
            keys(&file, "memo"),
            (
                Found::Ours {
                    entries: 3,
                    torn: false
                },
                vec!["set a 3".into(), "del a".into(), "set b 5".into()]
            )
        );
        let last = ENTRY_HEAD + 1 + 16 + 1 + 5;
        assert_eq!(
            full.len(),
            header("memo").len() + 3 * (ENTRY_HEAD + 17) + 4 + 1 + 6
        );
        for cut in 1..last {
            fs::write(&file, &full[..full.len() - cut]).unwrap();
            let (read, keys) = keys(&file, "memo");
            assert_eq!(
                read,
                Found::Ours {
                    entries: 2,
                    torn: true
                },
                "cut {cut}"
            );
            assert_eq!(keys.len(), 2);
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_an_entry_stops_the_replay_there() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = write(dir.path(), &[(SET, "a", b"xyz"), (SET, "b", b"12345")]);
        let full = fs::read(&file).unwrap();
        let second = full.len() - (ENTRY_HEAD + 1 + 16 + 1 + 5);
        for at in second..full.len() {
            let mut damaged = full.clone();
            damaged[at] ^= 0x10;
            fs::write(&file, &damaged).unwrap();
            let (read, keys) = keys(&file, "memo");
            assert_eq!(
                read,
                Found::Ours {
                    entries: 1,
                    torn: true
                },
                "byte {at}"
            );
            assert_eq!(keys, ["set a 3"]);
        }
    }

    #[test]
    fn another_tables_journal_is_foreign_and_generations_list_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = write(dir.path(), &[(SET, "a", b"xyz")]);
        assert_eq!(keys(&file, "other").0, Found::Foreign);
        let base = dir.path().join("j.redb");
        fs::write(path(&base, 10), b"").unwrap();
        fs::write(path(&base, 2), b"mem").unwrap();
        fs::write(dir.path().join("j.redb.journal.x"), b"").unwrap();
        fs::write(dir.path().join("other.redb.journal.3"), b"").unwrap();
        assert_eq!(generations(&base).unwrap(), [1, 2, 10]);
        assert_eq!(
            keys(&path(&base, 10), "memo").0,
            Found::Ours {
                entries: 0,
                torn: false
            }
        );
        assert_eq!(
            keys(&path(&base, 2), "memo").0,
            Found::Ours {
                entries: 0,
                torn: true
            }
        );
        assert!(is_ours(&path(&base, 2), "memo").unwrap());
        assert!(!is_ours(&path(&base, 1), "other").unwrap());
        remove(&base, 1..=10);
        assert!(generations(&base).unwrap().is_empty());
    }
}
