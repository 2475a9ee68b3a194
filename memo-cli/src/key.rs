//! The key of `memo exec`: `exec:<scope>:<argv, shell-quoted>`, readable in `memo ls`, plus
//! ` #<hash>` when the flags add parts or the command line is long or not UTF-8.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::cli::ExecArgs;
use crate::fail::Fail;

/// A quoted command line longer than this is cut, and the hash keeps the key unique.
const READABLE_MAX: usize = 200;

/// Seconds and nanoseconds since the epoch.
type Modtime = (u64, u32);

/// Everything the key depends on beyond the scope; hashed as postcard, which is positional and
/// stable, so the same inputs give the same hash in every version of memo that keeps this
/// struct.
#[derive(Serialize)]
struct Parts<'a> {
    argv: Vec<&'a [u8]>,
    cwd: Option<Vec<u8>>,
    env: Vec<(&'a [u8], Option<Vec<u8>>)>,
    modtimes: Vec<(&'a [u8], Option<Modtime>)>,
}

/// The key of this invocation.
pub(crate) fn exec_key(args: &ExecArgs) -> Result<String, Fail> {
    if args.scope.contains(':') {
        return Err(Fail::Config(format!(
            "--scope {:?}: a scope cannot contain ':'",
            args.scope
        )));
    }
    let cwd = if args.cwd {
        let dir = std::env::current_dir()
            .map_err(|e| Fail::Config(format!("--cwd: the working directory: {e}")))?;
        Some(dir.into_os_string().into_vec())
    } else {
        None
    };
    let parts = Parts {
        argv: args.command.iter().map(|a| a.as_bytes()).collect(),
        cwd,
        env: args
            .env
            .iter()
            .map(|name| {
                (
                    name.as_bytes(),
                    std::env::var_os(name).map(OsString::into_vec),
                )
            })
            .collect(),
        modtimes: args
            .modtime
            .iter()
            .map(|file| (file.as_os_str().as_bytes(), modtime(file)))
            .collect(),
    };
    let mut readable = String::new();
    let mut exact = true;
    for (i, arg) in args.command.iter().enumerate() {
        if i > 0 {
            readable.push(' ');
        }
        exact &= quote(arg, &mut readable);
    }
    let extras = args.cwd || !args.env.is_empty() || !args.modtime.is_empty();
    if readable.len() > READABLE_MAX {
        let mut cut = READABLE_MAX;
        while !readable.is_char_boundary(cut) {
            cut -= 1;
        }
        readable.truncate(cut);
        readable.push('…');
        exact = false;
    }
    let mut key = format!("exec:{}:{readable}", args.scope);
    if !exact || extras {
        let bytes = postcard::to_stdvec(&parts).map_err(|e| Fail::Config(e.to_string()))?;
        key.push_str(&format!(" #{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)));
    }
    Ok(key)
}

/// A file's modification time, `None` when it cannot be read (a missing file is a state too).
fn modtime(file: &PathBuf) -> Option<Modtime> {
    let time = std::fs::metadata(file).and_then(|m| m.modified()).ok()?;
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    Some((since.as_secs(), since.subsec_nanos()))
}

/// Appends `arg` as one shell word: bare when it is only safe characters, else single-quoted.
/// Returns `false` when `arg` is not UTF-8 (then the text is lossy and the key needs its hash).
fn quote(arg: &OsStr, out: &mut String) -> bool {
    let Some(text) = arg.to_str() else {
        out.push_str(&shell_quoted(&arg.to_string_lossy()));
        return false;
    };
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=,+@%^".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        out.push_str(text);
    } else {
        out.push_str(&shell_quoted(text));
    }
    true
}

fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn key(args: &[&str]) -> String {
        let cli =
            crate::cli::Cli::try_parse_from(["memo", "exec"].iter().chain(args).copied()).unwrap();
        let crate::cli::Command::Exec(exec) = cli.command else {
            panic!("not exec")
        };
        exec_key(&exec).unwrap()
    }

    #[test]
    fn plain_command_lines_read_as_shell() {
        assert_eq!(key(&["--", "ls", "-l", "/tmp"]), "exec::ls -l /tmp");
        assert_eq!(
            key(&["--scope", "ci", "echo", "a b", "it's", ""]),
            r"exec:ci:echo 'a b' 'it'\''s' ''"
        );
    }

    #[test]
    fn different_command_lines_never_share_a_key() {
        let keys = [
            key(&["echo", "a b"]),
            key(&["echo", "a", "b"]),
            key(&["echo", "a #0000000000000000"]),
            key(&["echo a"]),
            key(&["--env", "MEMO_KEY_TEST_UNSET", "echo", "a"]),
            key(&["--cwd", "echo", "a"]),
            key(&["--scope", "x", "echo", "a"]),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:#?}");
    }

    #[test]
    fn long_command_lines_are_cut_and_hashed() {
        let long_a = "a".repeat(300);
        let long_b = format!("{}b", "a".repeat(299));
        let (a, b) = (key(&["echo", &long_a]), key(&["echo", &long_b]));
        assert_ne!(a, b);
        assert!(a.len() < 260, "{a}");
        assert!(a.contains("… #"), "{a}");
    }

    #[test]
    fn a_scope_with_a_colon_is_refused() {
        let cli =
            crate::cli::Cli::try_parse_from(["memo", "exec", "--scope", "a:b", "true"]).unwrap();
        let crate::cli::Command::Exec(exec) = cli.command else {
            panic!("not exec")
        };
        assert!(matches!(exec_key(&exec), Err(Fail::Config(_))));
    }
}
