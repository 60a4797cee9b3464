//! `cargo xtask public-api [--bless]`: the public API of every published library crate, one
//! item per line, compared with the committed `api/<crate>.txt`, so any change to it is a
//! reviewed diff. `--bless` writes the files instead.
//!
//! Rustdoc's JSON output is unstable; `RUSTC_BOOTSTRAP=1` lets the stable toolchain emit it.
//! The `public-api` crate reads one format version (see xtask/Cargo.toml): after a toolchain
//! update, update that pin too. Items hidden with `#[doc(hidden)]` (such as
//! `hpp_core::__private`) are not part of the API and not listed; blanket impls are left out as
//! noise, auto traits (`Send`, `Sync`, ...) and derived impls are kept: losing one breaks users.

use std::path::Path;
use std::process::{Command, ExitCode};

/// The published library crates, with the features their API is listed with.
const CRATES: [(&str, &[&str]); 11] = [
    ("hpp-core", &["--all-features"]),
    ("hpp-reqwest", &[]),
    ("hpp-hyper", &[]),
    ("hpp-tokio", &[]),
    ("hpp-blocking", &[]),
    ("hpp-rustls", &[]),
    ("hpp-conformance", &[]),
    ("hpp-testing", &[]),
    ("hpp-sandbox", &[]),
    ("hpp-postgres", &["--all-features"]),
    ("hpp-axum", &[]),
];

pub(crate) fn run(root: &Path, cargo: &str, args: &[String]) -> ExitCode {
    let bless = args.iter().any(|a| a == "--bless");
    // The shared target directory: only the documented crate is rebuilt (its dependencies'
    // metadata is reused), and the JSON lands beside the HTML docs.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let mut changed = Vec::new();
    for (name, features) in CRATES {
        let json = target.join("doc").join(format!("{}.json", name.replace('-', "_")));
        // The JSON's path is shared by every checkout using this target directory: a file left
        // by another checkout (a clone's CI run) must never be read as this one's. Removed
        // first, it is either written now or missing; missing means cargo thought the docs
        // fresh, so the docs are cleaned and built again.
        let _ = std::fs::remove_file(&json);
        for attempt in 0..2 {
            if attempt == 1 {
                let cleaned = Command::new(cargo)
                    .args(["clean", "--quiet", "--doc", "--target-dir"])
                    .arg(&target)
                    .current_dir(root)
                    .status();
                if !cleaned.is_ok_and(|s| s.success()) {
                    eprintln!("xtask public-api: cargo clean --doc failed");
                    return ExitCode::FAILURE;
                }
            }
            let status = Command::new(cargo)
                .args(["rustdoc", "--quiet", "--locked", "--lib", "-p", name])
                .args(features)
                .arg("--target-dir")
                .arg(&target)
                .args(["--", "-Z", "unstable-options", "--output-format", "json"])
                .env("RUSTC_BOOTSTRAP", "1")
                .env_remove("RUSTDOCFLAGS")
                .current_dir(root)
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("xtask public-api: rustdoc failed for {name}");
                return ExitCode::FAILURE;
            }
            if json.exists() {
                break;
            }
        }
        let api = match public_api::Builder::from_rustdoc_json(&json).omit_blanket_impls(true).build() {
            Ok(api) => api.to_string(),
            Err(e) => {
                eprintln!(
                    "xtask public-api: cannot read {}: {e}\n(a toolchain with another rustdoc JSON format? update the \
                     public-api pin in xtask/Cargo.toml)",
                    json.display()
                );
                return ExitCode::FAILURE;
            }
        };
        let committed_path = root.join("api").join(format!("{name}.txt"));
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if committed == api {
            continue;
        }
        if bless {
            if let Err(e) =
                std::fs::create_dir_all(root.join("api")).and_then(|()| std::fs::write(&committed_path, &api))
            {
                eprintln!("xtask public-api: cannot write {}: {e}", committed_path.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", committed_path.display());
        } else {
            print_diff(name, &committed, &api);
            changed.push(name);
        }
    }
    if changed.is_empty() {
        println!(
            "public API: {} crates {}",
            CRATES.len(),
            if bless { "written to api/" } else { "as committed in api/" }
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "xtask public-api: the public API of {} changed. If that is intended, run `cargo xtask public-api --bless`, \
             commit api/ and record breaking changes in CHANGELOG.md.",
            changed.join(", ")
        );
        ExitCode::FAILURE
    }
}

/// The lines only in one of the two lists (both are sorted item lists).
fn print_diff(name: &str, committed: &str, current: &str) {
    let old: std::collections::BTreeSet<&str> = committed.lines().collect();
    let new: std::collections::BTreeSet<&str> = current.lines().collect();
    println!("--- api/{name}.txt (committed)\n+++ {name} (current)");
    for line in old.difference(&new) {
        println!("-{line}");
    }
    for line in new.difference(&old) {
        println!("+{line}");
    }
}
