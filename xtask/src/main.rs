//! `cargo xtask <task>`: project automation in Rust, no extra tools.
//!
//! - `ci`: what CI runs (`.ci/run`): fmt, clippy, the README's test command, docs, the demo.
//! - `fuzz [SECONDS]`: each `cargo fuzz` target for SECONDS (default 10) on its committed corpus;
//!   without cargo-fuzz installed, the same checks under proptest with many cases.
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
        Some("fuzz") => return fuzz(&root, &cargo, args.get(1).map_or("10", String::as_str)),
        Some("load") => {
            let mut c = Command::new(cargo);
            c.args(["run", "--release", "--quiet", "-p", "hpp-tests", "--bin", "hpp-load", "--"]).args(&args[1..]);
            c
        }
        _ => {
            eprintln!("usage: cargo xtask ci | fuzz [SECONDS] | load [REQUESTS] [IN_FLIGHT]");
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

/// The fuzz targets, by name, as in `fuzz/Cargo.toml`.
const FUZZ_TARGETS: [&str; 3] = ["parse_response", "check_url", "sandbox_request"];

fn fuzz(root: &std::path::Path, cargo: &str, seconds: &str) -> ExitCode {
    let has_cargo_fuzz = Command::new(cargo).args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_cargo_fuzz {
        eprintln!("xtask: cargo-fuzz is not installed (cargo install cargo-fuzz); running the checks under proptest");
        let status = Command::new(cargo)
            .args(["test", "--release", "-p", "hpp-tests", "--test", "fuzz_corpus"])
            .env("PROPTEST_CASES", "20000")
            .current_dir(root)
            .status();
        return if status.is_ok_and(|s| s.success()) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    for target in FUZZ_TARGETS {
        let corpus = format!("corpus/{target}");
        let status = Command::new(cargo)
            .args(["fuzz", "run", "-O", target, &corpus, "--", &format!("-max_total_time={seconds}")])
            // cargo-fuzz needs nightly flags; the stable toolchain accepts them with this.
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root.join("fuzz"))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("xtask: fuzz target {target} failed; see fuzz/artifacts/{target}/");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
