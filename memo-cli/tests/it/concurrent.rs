//! Eight `memo exec` processes on one cold command run it once: over redb through the per-key
//! lock file, over Redis through the store's lock.

use std::process::Stdio;

use crate::support::{Sandbox, code, stdout};

fn eight_processes_run_one_command_once(sb: &Sandbox) {
    let cmd = "echo run >> runs; sleep 0.3; echo result; echo note >&2";
    let children: Vec<_> = (0..8)
        .map(|_| {
            sb.memo(&["exec", "--ttl", "1h", "--", "sh", "-c", cmd])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("memo starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            code(&output),
            0,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout(&output), "result\n");
        assert_eq!(output.stderr, b"note\n");
    }
    assert_eq!(sb.count("runs"), 1, "the command ran more than once");
}

#[test]
fn eight_processes_over_redb_run_a_cold_command_once() {
    eight_processes_run_one_command_once(&Sandbox::redb());
}

#[test]
fn eight_processes_over_redis_run_a_cold_command_once() {
    if let Some(sb) = Sandbox::redis() {
        eight_processes_run_one_command_once(&sb);
    }
}
