//! `cargo xtask <task>`: project automation in Rust, no extra tools.
//!
//! - `ci`: what CI runs (`.ci/run`): fmt, clippy, the README's test command, docs, the demo.
//! - `load [REQUESTS] [IN_FLIGHT]`: the load test (release build), 10,000 distributions at 64 in
//!   flight through each transport to the sandbox, with an exact outbox check.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = match args.first().map(String::as_str) {
        Some("ci") => {
            let mut c = Command::new("bash");
            c.arg(root.join(".ci/run"));
            c
        }
        Some("load") => {
            let mut c = Command::new(cargo);
            c.args(["run", "--release", "--quiet", "-p", "hpp-tests", "--bin", "hpp-load", "--"]).args(&args[1..]);
            c
        }
        _ => {
            eprintln!("usage: cargo xtask ci | load [REQUESTS] [IN_FLIGHT]");
            return ExitCode::from(2);
        }
    };
    match command.current_dir(&root).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run {command:?}: {e}");
            ExitCode::FAILURE
        }
    }
}
