//! `hpp-core` stays sans-IO: its normal dependency tree has no runtime, HTTP stack or socket
//! crate, so a user of the core alone never pays for them.

use std::process::Command;

#[test]
fn core_has_no_io_dependencies() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", "hpp-core", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(crates.contains(&"serde_json"), "unexpected tree:\n{tree}");
    for forbidden in ["tokio", "hyper", "hyper-util", "reqwest", "mio", "socket2", "rustls", "ring"] {
        assert!(!crates.contains(&forbidden), "hpp-core depends on {forbidden}:\n{tree}");
    }
}

/// Every `.rs` file under `dir`, in subdirectories too (modules such as `tracking/`).
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn core_sources_do_no_io() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/hpp-core/src");
    let files = rust_files(&src);
    assert!(files.iter().any(|f| f.ends_with("tracking/store.rs")), "subdirectories are read: {files:?}");
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let text: String = source.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        for forbidden in [
            "std::net",
            "std::fs",
            "std::env",
            "SystemTime::now",
            "Instant::now",
            "RandomState",
            "std::process",
            "thread::sleep",
        ] {
            assert!(!text.contains(forbidden), "{} uses {forbidden}", path.display());
        }
    }
}

#[test]
fn transports_stay_thin() {
    for transport in ["hpp-reqwest", "hpp-hyper"] {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates").join(transport).join("src/lib.rs");
        let source = std::fs::read_to_string(&path).unwrap();
        // Lines of code: documentation and blank lines do not make a transport thick.
        let lines = source.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).count();
        assert!(lines <= 120, "{transport} has {lines} lines of code; a transport only converts, sends and collects");
        let dir = path.parent().unwrap();
        let files = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(files, 1, "{transport} is one file (lib.rs): the code counted is all of it");
        let text: String = source.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        for forbidden in ["serde_json", "Credentials", "SessionRef", "RetryPolicy"] {
            assert!(
                !text.contains(forbidden),
                "{transport} mentions {forbidden}: JSON, auth, URLs and retries belong to the core"
            );
        }
    }
}
