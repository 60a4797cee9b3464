//! `cargo xtask <task>`: project automation in Rust, no extra tools.
//!
//! - `ci`: what CI runs (`.ci/run`): fmt, clippy, the README's test command, docs, the demo.
//! - `fuzz [SECONDS]`: each `cargo fuzz` target for SECONDS (default 10) on its committed corpus;
//!   without cargo-fuzz installed, the same checks under proptest with many cases.
//! - `bench [ROUNDS]`: the transport benchmark (release build): raw hyper-util, raw reqwest,
//!   hpp-hyper and hpp-reqwest against a loopback server, sequential and 32 in flight, with ratios.
//! - `build-cost`: cold release build time and dependency count of a small program using only
//!   hpp-core, and one using each transport (temporary projects under `target/build-cost/`).
//! - `load [REQUESTS] [IN_FLIGHT] [--faults [SEED]]`: the load test (release build), 10,000 distributions at 64 in
//!   flight through each transport to the sandbox, with an exact outbox check; with `--faults
//!   [SEED]`, under a seeded random mix of every sandbox fault, outcomes reconciled with the outbox.
//! - `mutants [--quick] [FILES…]`: cargo-mutants (installed when missing) on FILES, by default every
//!   file of hpp-core and both transports, judged by the whole workspace's tests (`--quick`: by the
//!   mutated crate's own tests only); prints caught, missed, timed out and unviable mutants per
//!   file. Exclusions, each with its reason: `.cargo/mutants.toml`. See TESTING.md.
//! - `spec`: for every property of every schema of the published spec (`spec/`, vendored), the
//!   model field that carries it; fails when one has none (CI runs it).
//! - `public-api [--bless]`: each library crate's public API compared with the committed
//!   `api/<crate>.txt` (CI runs it); `--bless` rewrites them after an intended change.
//! - `package`: `cargo package` for every publishable crate, in dependency order, each built from
//!   its package alone (workspace crates not yet on crates.io come from a local registry): what
//!   `cargo publish` would check. `package --no-verify` (CI runs it, in seconds) checks what goes
//!   into each package (metadata, files, dependencies) without building them.
//! - `minimal-versions`: in a copy of the repository under `target/minimal-versions/`, the lock
//!   file moved to the lowest versions the manifests allow for direct dependencies (the nightly
//!   toolchain's `-Z direct-minimal-versions`), then the workspace checked with the usual
//!   toolchain. Says so and fails when no nightly toolchain is installed.
//! - `doc-links`: the published crates' documentation (`cargo doc --workspace --no-deps`) has no
//!   link left as literal text (`[TrackingStore]`), and each crate's `html_root_url` names the
//!   workspace version (CI runs it).
//! - `track --chaos [SEED]` and `track --bench`: the payment tracker's chaos run and benchmark.
//! - `instructions`: instructions per operation under callgrind (valgrind; release build) for
//!   every transport benchmark row and the receiver's step, with the same ratios: counts that a
//!   busy machine does not move.
//! - `deny [--verbose]`: the dependency policy (`deny.toml`): licences, bans (duplicate versions
//!   are listed with `--verbose`) and sources, by cargo-deny (installed when missing). Advisories
//!   need the RustSec database from GitHub: `cargo deny check advisories` where that is reachable.

use std::process::{Command, ExitCode};

/// The workspace the command runs in: the nearest directory at or above the current one whose
/// `Cargo.toml` declares `[workspace]`. (Not the directory the xtask binary was built from: a
/// target directory shared by two checkouts holds one xtask binary, built from either.)
fn workspace_root() -> Option<std::path::PathBuf> {
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .find(|dir| std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]")))
        .map(std::path::Path::to_path_buf)
}

mod doc_links;
mod instructions;
mod public_api;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root_dir) = workspace_root() else {
        eprintln!("xtask: run it inside the repository (no workspace Cargo.toml above the current directory)");
        return ExitCode::from(2);
    };
    let root = root_dir.as_path();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = match args.first().map(String::as_str) {
        Some("ci") => {
            let mut c = Command::new("bash");
            c.arg(root.join(".ci/run"));
            c
        }
        Some("build-cost") => return build_cost(root, &cargo),
        Some("minimal-versions") => return minimal_versions(root),
        Some("package") => {
            let mut c = Command::new(cargo);
            c.args(["package", "--workspace", "--exclude", "hpp-tests", "--exclude", "xtask", "--locked"])
                .args(&args[1..]);
            if !args.iter().any(|a| a == "--no-verify") {
                // A target directory of its own, emptied first: the packaged crates are built as
                // registry crates of a temporary registry, and cargo never rebuilds a registry
                // crate of a version it has built before, so a shared target directory would
                // verify against an older packaging of the same version.
                let fresh = root.join("target/package-verify");
                let _ = std::fs::remove_dir_all(&fresh);
                c.env("CARGO_TARGET_DIR", fresh);
            }
            c
        }
        Some("fuzz") => return fuzz(root, &cargo, args.get(1).map_or("10", String::as_str)),
        Some("mutants") => return mutants(root, &cargo, &args[1..]),
        Some("deny") => {
            if !Command::new(&cargo).args(["deny", "--version"]).output().is_ok_and(|o| o.status.success()) {
                eprintln!("xtask deny: installing cargo-deny (a few minutes, once)");
                let installed = Command::new(&cargo).args(["install", "--locked", "--quiet", "cargo-deny"]).status();
                if !installed.is_ok_and(|s| s.success()) {
                    eprintln!("xtask deny: cannot install cargo-deny");
                    return ExitCode::FAILURE;
                }
            }
            let mut c = Command::new(cargo);
            c.arg("deny");
            if !args.iter().any(|a| a == "--verbose") {
                c.args(["--log-level", "error"]);
            }
            c.args(["check", "licenses", "bans", "sources"]);
            c
        }
        Some("public-api") => return public_api::run(root, &cargo, &args[1..]),
        Some("doc-links") => return doc_links::run(root, &cargo),
        Some("instructions") => return instructions::run(root, &cargo),
        Some("bench") => {
            let mut c = Command::new(cargo);
            c.args(["run", "--release", "--quiet", "-p", "hpp-tests", "--bin", "hpp-bench", "--"]).args(&args[1..]);
            c
        }
        Some("spec") => {
            let mut c = Command::new(cargo);
            c.args(["run", "--quiet", "-p", "hpp-tests", "--bin", "hpp-spec"]);
            c
        }
        Some("track") => {
            // --chaos measures correctness: the debug build the tests share. --bench measures speed.
            let mut c = Command::new(cargo);
            c.args(["run", "--quiet", "-p", "hpp-tests", "--bin", "hpp-track"]);
            if args.iter().any(|a| a == "--bench") {
                c.arg("--release");
            }
            c.arg("--").args(&args[1..]);
            c
        }
        Some("load") => {
            let mut c = Command::new(cargo);
            c.args(["run", "--release", "--quiet", "-p", "hpp-tests", "--bin", "hpp-load", "--"]).args(&args[1..]);
            c
        }
        _ => {
            eprintln!(
                "usage: cargo xtask ci | deny [--verbose] | doc-links | bench [ROUNDS] | build-cost | fuzz [SECONDS] | load [REQUESTS] [IN_FLIGHT] [--faults [SEED]] | mutants [FILES...] | public-api [--bless] | spec | package | minimal-versions | track --chaos [SEED] | track --bench | instructions"
            );
            return ExitCode::from(2);
        }
    };
    match command.current_dir(root).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run {command:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The fuzz targets, by name, as in `fuzz/Cargo.toml`.
const FUZZ_TARGETS: [&str; 5] = ["parse_response", "check_url", "sandbox_request", "callback_request", "header_times"];

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

/// The small programs of `build-cost`: name, dependencies, main.
const PROGRAMS: [(&str, &str, &str); 3] = [
    (
        "core-only",
        "hpp-core = { path = \"../../../crates/hpp-core\" }\nhttp = \"1\"",
        "fn main() {\n    let config = hpp_core::Config::new(hpp_core::Environment::Kustom(hpp_core::Mode::Playground), hpp_core::Credentials::api_key(\"k\").unwrap());\n    let request = hpp_core::Operation::build(&hpp_core::ReadSession::new(\"s1\"), &config).unwrap();\n    println!(\"{}\", request.uri());\n}\n",
    ),
    (
        "hyper",
        "hpp-core = { path = \"../../../crates/hpp-core\" }\nhpp-hyper = { path = \"../../../crates/hpp-hyper\" }\ntokio = { version = \"1\", features = [\"rt\"] }",
        "fn main() {\n    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();\n    rt.block_on(async {\n        let config = hpp_core::Config::new(hpp_core::Environment::Kustom(hpp_core::Mode::Playground), hpp_core::Credentials::api_key(\"k\").unwrap());\n        let client = hpp_core::Client::new(config, hpp_hyper::HyperTransport::new(), hpp_hyper::TokioTimer::new());\n        let _ = client.read_session(\"s1\").await;\n    });\n}\n",
    ),
    (
        "reqwest",
        "hpp-core = { path = \"../../../crates/hpp-core\" }\nhpp-reqwest = { path = \"../../../crates/hpp-reqwest\" }\ntokio = { version = \"1\", features = [\"rt\"] }",
        "fn main() {\n    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();\n    rt.block_on(async {\n        let config = hpp_core::Config::new(hpp_core::Environment::Kustom(hpp_core::Mode::Playground), hpp_core::Credentials::api_key(\"k\").unwrap());\n        let client = hpp_core::Client::new(config, hpp_reqwest::ReqwestTransport::new().unwrap(), hpp_reqwest::TokioTimer::new());\n        let _ = client.read_session(\"s1\").await;\n    });\n}\n",
    ),
];

fn build_cost(root: &std::path::Path, cargo: &str) -> ExitCode {
    let base = root.join("target/build-cost");
    println!("{:<10} {:>14} {:>13} {:>12}", "program", "cold build s", "dependencies", "binary KiB");
    for (name, deps, main) in PROGRAMS {
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let written = std::fs::create_dir_all(dir.join("src")).and_then(|()| {
            let manifest = format!(
                "[package]\nname = \"bc-{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{deps}\n\n[profile.release]\nstrip = true\n"
            );
            std::fs::write(dir.join("Cargo.toml"), manifest)?;
            std::fs::write(dir.join("src/main.rs"), main)?;
            // The workspace's lock file, so the versions are those the SDK is tested with.
            std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).map(drop)
        });
        if let Err(e) = written {
            eprintln!("xtask: cannot write {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        let started = std::time::Instant::now();
        let built = Command::new(cargo).args(["build", "--release", "--quiet"]).current_dir(&dir).status();
        let seconds = started.elapsed().as_secs_f64();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("xtask: building {name} failed");
            return ExitCode::FAILURE;
        }
        let tree = Command::new(cargo)
            .args(["tree", "-e", "normal", "--prefix", "none", "--quiet"])
            .current_dir(&dir)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
        crates.sort_unstable();
        crates.dedup();
        let binary = std::fs::metadata(dir.join(format!("target/release/bc-{name}"))).map_or(0, |m| m.len() / 1024);
        println!("{name:<10} {seconds:>14.1} {:>13} {binary:>12}", crates.len().saturating_sub(1));
    }
    ExitCode::SUCCESS
}

/// The files `mutants` tests by default: the core and both transports.
fn default_mutant_files(root: &std::path::Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root.join("crates/hpp-core/src"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| format!("crates/hpp-core/src/{}", e.file_name().to_string_lossy()))
                .filter(|f| f.ends_with(".rs"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.extend(["crates/hpp-hyper/src/lib.rs".to_owned(), "crates/hpp-reqwest/src/lib.rs".to_owned()]);
    files
}

fn mutants(root: &std::path::Path, cargo: &str, args: &[String]) -> ExitCode {
    let quick = args.iter().any(|a| a == "--quick");
    let files: Vec<String> = args.iter().filter(|a| *a != "--quick").cloned().collect();
    let installed = Command::new(cargo).args(["mutants", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("xtask: installing cargo-mutants (cargo install --locked cargo-mutants)");
        let status = Command::new(cargo).args(["install", "--locked", "cargo-mutants"]).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("xtask: cannot install cargo-mutants");
            return ExitCode::FAILURE;
        }
    }
    let files = if files.is_empty() { default_mutant_files(root) } else { files };
    let mut command = Command::new(cargo);
    let judge = if quick { "--test-workspace=false" } else { "--test-workspace=true" };
    // Every feature on: a file behind a feature (`tower.rs`) is compiled and judged, not skipped.
    // The output directory as an absolute path, made first (cargo-mutants 27 refuses a relative
    // one whose parent it cannot find).
    let output = root.join("target/mutants");
    if let Err(e) = std::fs::create_dir_all(&output) {
        eprintln!("xtask: cannot create {}: {e}", output.display());
        return ExitCode::FAILURE;
    }
    command.args(["mutants", "--no-shuffle", judge, "--all-features", "--output"]).arg(&output);
    for file in &files {
        command.args(["--file", file]);
    }
    // cargo-mutants exits 2 when a mutant survives and 3 on timeouts (the table below says
    // which); anything else but 0 means it did not run the mutants at all.
    match command.current_dir(root).status().map(|s| s.code()) {
        Ok(Some(0 | 2 | 3)) => {}
        Ok(code) => {
            eprintln!("xtask: cargo mutants failed (exit {code:?}) before judging the mutants; nothing was measured");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("xtask: cannot run cargo mutants: {e}");
            return ExitCode::FAILURE;
        }
    }
    let out = output.join("mutants.out");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let outcomes = [
        ("caught", read("caught.txt")),
        ("missed", read("missed.txt")),
        ("timeout", read("timeout.txt")),
        ("unviable", read("unviable.txt")),
    ];
    println!("{:<40} {:>7} {:>7} {:>8} {:>9} {:>7}", "file", "caught", "missed", "timeout", "unviable", "score");
    let (mut all_caught, mut all_viable) = (0, 0);
    for file in &files {
        let count = |text: &str| text.lines().filter(|l| l.starts_with(&format!("{file}:"))).count();
        let [caught, missed, timeout, unviable] = outcomes.each_ref().map(|(_, text)| count(text));
        let viable = caught + missed + timeout;
        (all_caught, all_viable) = (all_caught + caught + timeout, all_viable + viable);
        let score = if viable == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", 100.0 * (caught + timeout) as f64 / viable as f64)
        };
        println!("{file:<40} {caught:>7} {missed:>7} {timeout:>8} {unviable:>9} {score:>7}");
    }
    println!("caught (timeouts count as caught) {all_caught} of {all_viable} viable mutants");
    for line in outcomes[1].1.lines() {
        println!("missed: {line}");
    }
    if outcomes[1].1.trim().is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `cargo xtask minimal-versions`: the workspace against the lowest versions its manifests allow
/// for direct dependencies, in a copy (the committed lock file is left alone).
fn minimal_versions(root: &std::path::Path) -> ExitCode {
    let has_nightly = Command::new("rustup")
        .args(["run", "nightly", "cargo", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nightly {
        eprintln!(
            "xtask minimal-versions: no nightly toolchain is installed (rustup toolchain install nightly); not checked"
        );
        return ExitCode::FAILURE;
    }
    let copy = root.join("target/minimal-versions");
    let _ = std::fs::remove_dir_all(&copy);
    // The repository's tracked files, as committed, without the target directory.
    let archive = Command::new("git")
        .args(["archive", "--format=tar", "HEAD"])
        .current_dir(root)
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if std::fs::create_dir_all(&copy).is_err() || archive.is_empty() {
        eprintln!("xtask minimal-versions: could not copy the repository");
        return ExitCode::FAILURE;
    }
    let untar = Command::new("tar").args(["-x", "-C"]).arg(&copy).stdin(std::process::Stdio::piped()).spawn();
    let Ok(mut untar) = untar else { return ExitCode::FAILURE };
    if let Some(mut stdin) = untar.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(&archive);
    }
    if !untar.wait().is_ok_and(|s| s.success()) {
        return ExitCode::FAILURE;
    }
    let target = root.join("target/minimal-versions-target");
    let steps: [&[&str]; 2] = [
        &["+nightly", "update", "-Z", "direct-minimal-versions"],
        // Checked with the toolchain the project is built with: nightly only moves the lock file
        // (old crates' build scripts turn on unstable attributes under a nightly compiler).
        &["check", "--workspace", "--all-targets", "--all-features"],
    ];
    for step in steps {
        // rustup's proxy (not `$CARGO`, a toolchain's own binary) understands `+nightly`.
        let status = Command::new("cargo").args(step).env("CARGO_TARGET_DIR", &target).current_dir(&copy).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("xtask minimal-versions: `cargo {}` failed", step.join(" "));
            return ExitCode::FAILURE;
        }
    }
    println!("minimal versions: the workspace checks with every direct dependency at its lowest allowed version");
    ExitCode::SUCCESS
}
