//! The `memo` command: caches any command's output in a memo store (`memo exec`), and looks
//! inside any memo cache (`memo ls`, `show`, `rm`, `purge`, `stats`, `compact`). See the
//! README for the exit codes and store URLs.

mod cli;
mod exec;
mod fail;
mod inspect;
mod key;
mod output;
mod store;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match &cli.command {
        cli::Command::Exec(args) => exec::exec(cli.store.as_deref(), args),
        cli::Command::Inspect(command) => {
            match inspect::run(command, cli.store.as_deref(), cli.json) {
                Ok(()) => 0,
                Err(fail) => {
                    eprintln!("memo: {fail}");
                    fail.code()
                }
            }
        }
    };
    std::process::exit(code);
}
