//! `cargo xtask <task>`: project automation in Rust, no extra tools.
//!
//! - `ci`: what CI runs (`.ci/run`): fmt, clippy, the README's test command, docs, the demo.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match task.as_str() {
        "ci" => match Command::new("bash").arg(root.join(".ci/run")).status() {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask: cannot run .ci/run: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask ci");
            ExitCode::from(2)
        }
    }
}
