//! The command line, as clap parses it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The exit codes, for `--help` (the README has the same table).
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    no such record (show, rm)
  2    usage error (bad arguments)
  3    bad store URL, or a file that is not a memo cache
  4    store unreachable or failing (a busy redb file, Redis down, an I/O error)
  5    the store cannot do this (compact over Redis, ls over a store without scan)
  exec returns the command's own exit status (a signal death as 128+signal), or:
  125  memo itself failed before running the command (bad store URL, not a memo cache,
       a scope with :)
  126  the command was found but could not be executed
  127  the command was not found

Stores (--store URL or MEMO_STORE):
  redb:                      the default file: $XDG_CACHE_HOME/memo/cache.redb, else
                             $HOME/.cache/memo/cache.redb
  redb:///abs/path.redb      a redb file
  redis://host:port/db?prefix=P   a Redis server, keys under P (default memo:)";

/// memo: cache any command's output, and look inside any memo cache.
#[derive(Debug, Parser)]
#[command(name = "memo", version, after_long_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The store, as a URL (see below); default: the redb file in the user's cache directory.
    #[arg(
        long,
        global = true,
        env = "MEMO_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) store: Option<String>,

    /// Print JSON instead of text (ls, show, rm, purge, stats, compact).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a command, or replay its cached stdout, stderr and exit status.
    Exec(ExecArgs),
    /// Look inside the store.
    #[command(flatten)]
    Inspect(Inspect),
}

/// The commands that look inside a store.
#[derive(Debug, Subcommand)]
pub(crate) enum Inspect {
    /// List records: key, age, time left, size, whether an etag is set.
    Ls {
        /// Only keys that start with this.
        prefix: Option<String>,
    },
    /// Show one record's metadata and its value, decoded where possible.
    Show {
        /// The key, as `memo ls` prints it.
        key: String,
    },
    /// Remove one record, or every record under a prefix.
    Rm {
        /// The key, as `memo ls` prints it.
        #[arg(required_unless_present = "prefix", conflicts_with = "prefix")]
        key: Option<String>,
        /// Remove every record whose key starts with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Remove expired records (and, over redb, idle lock files).
    Purge,
    /// Count records and bytes; find expired and oldest records.
    Stats,
    /// Rewrite the store's file without free space (redb).
    Compact,
}

/// `memo exec`'s arguments.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExecArgs {
    /// Keep the result this long (`90s`, `15m`, `2h`, `1d`, `500ms`; a bare number is
    /// seconds). Default: until removed.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) ttl: Option<Duration>,

    /// Serve a result older than this, and refresh it in the background.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) stale: Option<Duration>,

    /// Make the working directory part of the key.
    #[arg(long)]
    pub(crate) cwd: bool,

    /// Make this environment variable's value part of the key (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) env: Vec<OsString>,

    /// Make this file's modification time part of the key (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) modtime: Vec<PathBuf>,

    /// A name that separates otherwise equal keys (no `:`).
    #[arg(long, value_name = "S", default_value = "")]
    pub(crate) scope: String,

    /// Do not cache a result whose exit status is not 0.
    #[arg(long)]
    pub(crate) discard_failures: bool,

    /// Run the command even on a hit, and cache the new result.
    #[arg(long)]
    pub(crate) force: bool,

    /// The background refresh of `--stale`: runs unless another process refreshed first.
    #[arg(long, hide = true)]
    pub(crate) refresh: bool,

    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub(crate) command: Vec<OsString>,
}

impl ExecArgs {
    /// The arguments of `memo exec` again, with `--refresh` for the background refresh.
    pub(crate) fn refresh_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec!["exec".into(), "--refresh".into()];
        let seconds = |d: Duration| format!("{}ms", d.as_millis()).into();
        if let Some(ttl) = self.ttl {
            out.extend(["--ttl".into(), seconds(ttl)]);
        }
        if let Some(stale) = self.stale {
            out.extend(["--stale".into(), seconds(stale)]);
        }
        if self.cwd {
            out.push("--cwd".into());
        }
        for name in &self.env {
            out.extend(["--env".into(), name.clone()]);
        }
        for file in &self.modtime {
            out.extend(["--modtime".into(), file.clone().into()]);
        }
        out.extend(["--scope".into(), self.scope.clone().into()]);
        if self.discard_failures {
            out.push("--discard-failures".into());
        }
        out.push("--".into());
        out.extend(self.command.iter().cloned());
        out
    }
}

/// `90s`, `15m`, `2h`, `1d`, `500ms`, `1.5s`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m, h or d)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 2h or 1d"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_reject_garbage() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "s", "5 s", "5y", "-1s", "1e999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn refresh_args_parse_back_to_the_same_exec() {
        let cli = Cli::try_parse_from([
            "memo",
            "exec",
            "--ttl",
            "1m",
            "--stale",
            "10s",
            "--env",
            "HOME",
            "--scope",
            "s",
            "--discard-failures",
            "--",
            "ls",
            "-l",
        ])
        .unwrap();
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        let again =
            Cli::try_parse_from(std::iter::once(OsString::from("memo")).chain(args.refresh_args()))
                .unwrap();
        let Command::Exec(again) = again.command else {
            panic!("not exec")
        };
        assert!(again.refresh);
        assert_eq!(again.ttl, args.ttl);
        assert_eq!(again.stale, args.stale);
        assert_eq!(again.env, args.env);
        assert_eq!(again.scope, args.scope);
        assert_eq!(again.command, args.command);
        assert!(again.discard_failures);
    }
}
