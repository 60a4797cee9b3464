//! `cargo xtask instructions`: instructions per operation under callgrind (valgrind), beside the
//! wall-time benchmarks: a count does not move with the machine's load, so a 2% change shows
//! from one run to the next where time cannot resolve it.
//!
//! Each row runs twice under `valgrind --tool=callgrind` (this process's threads; a server in
//! another process is not counted), once with `small` operations and once with `large`: the
//! difference divided by `large - small` is the instructions of one operation, set-up and
//! warm-up cancelled out. Rows:
//! - every row of the transport benchmark (`hpp-bench profile KIND 1 N`: one request at a time to
//!   a loopback server in another process), with its ratios against the raw client with the same
//!   timeout (R) and against R doing the core's wire work by hand (H); the core's own build and
//!   parse is the client row less the transport row, against H less R;
//! - the receiver's step on PostgreSQL against the raw handler doing one `INSERT … ON CONFLICT DO
//!   NOTHING` (`hpp-track --instructions sdk|raw IN_FLIGHT N`: N callbacks straight into each
//!   router, one at a time and 32 at a time: the store records callbacks that come together in
//!   one statement).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// One row's instructions per operation: the difference between `small` and `large` operations.
fn per_operation(root: &Path, program: &str, args: &[&str], small: u64, large: u64) -> Result<f64, String> {
    let run = |count: u64| -> Result<u64, String> {
        let out = root.join(format!("target/instructions/{program}-{}-{count}.out", args.join("-")));
        let status = Command::new("valgrind")
            .args(["--tool=callgrind", "--dump-instr=no"])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(root.join("target/release").join(program))
            .args(args)
            .arg(count.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("valgrind: {e} (apt-get install valgrind)"))?;
        if !status.success() {
            return Err(format!("{program} {} {count} under callgrind: {status}", args.join(" ")));
        }
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        text.lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|total| total.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("{}: no totals line", out.display()))
    };
    let (a, b) = (run(small)?, run(large)?);
    Ok((b as f64 - a as f64) / (large - small) as f64)
}

pub(crate) fn run(root: &Path, cargo: &str) -> ExitCode {
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "hpp-tests", "--bin", "hpp-bench", "--bin", "hpp-track"])
        .current_dir(root)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("xtask instructions: the release build failed");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all(root.join("target/instructions")) {
        eprintln!("xtask instructions: target/instructions: {e}");
        return ExitCode::FAILURE;
    }
    match table(root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask instructions: {e}");
            ExitCode::FAILURE
        }
    }
}

fn table(root: &Path) -> Result<(), String> {
    let listed = Command::new(root.join("target/release/hpp-bench"))
        .arg("kinds")
        .output()
        .map_err(|e| format!("hpp-bench kinds: {e}"))?;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    // KIND R H NAME…
    let rows: Vec<Vec<&str>> =
        listed.lines().map(|line| line.splitn(4, ' ').collect()).filter(|r: &Vec<&str>| r.len() == 4).collect();
    println!("instructions per operation under callgrind (this process; one request at a time)");
    println!("{:<24} {:>14} {:>10} {:>10}", "transport row", "instr/request", "vs R", "vs H");
    let mut counted: Vec<(&str, f64)> = Vec::new();
    for row in &rows {
        let count = per_operation(root, "hpp-bench", &["profile", row[0], "1"], 200, 600)?;
        counted.push((row[0], count));
        let of = |kind: &str| counted.iter().find(|c| c.0 == kind).map(|c| c.1);
        let ratio = |kind: &str| of(kind).map_or_else(String::new, |base| format!("{:.3}x", count / base));
        println!("{:<24} {count:>14.0} {:>10} {:>10}", row[3], ratio(row[1]), ratio(row[2]));
    }
    let of = |kind: &str| counted.iter().find(|c| c.0 == kind).map_or(0.0, |c| c.1);
    for (client, transport, by_hand, raw) in [
        ("hpp-hyper", "hpp-hyper-transport", "raw-hyper-by-hand", "raw-hyper-timeout"),
        ("hpp-reqwest", "hpp-reqwest-transport", "raw-reqwest-by-hand", "raw-reqwest"),
    ] {
        let core = of(client) - of(transport);
        let hand = of(by_hand) - of(raw);
        println!(
            "core build + parse ({client} client less its transport) {core:.0} vs by hand (H less R) {hand:.0}: {:.2}x",
            core / hand
        );
    }
    for in_flight in ["1", "32"] {
        let sdk = per_operation(root, "hpp-track", &["--instructions", "sdk", in_flight], 128, 384)?;
        let raw = per_operation(root, "hpp-track", &["--instructions", "raw", in_flight], 128, 384)?;
        println!(
            "receiver step on PostgreSQL, {in_flight:>2} in flight: {sdk:.0} instr/callback vs raw handler (one INSERT) \
             {raw:.0}: instruction ratio {:.2}x",
            sdk / raw
        );
    }
    Ok(())
}
