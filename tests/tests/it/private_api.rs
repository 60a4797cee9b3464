//! `hpp_core::__private` is closed to users: a feature only the sibling crates that need it
//! enable (the sandbox, the CLI, the testing tools), never one a production app's dependencies
//! turn on. It was open to any caller, and handed out the `Authorization` header of any
//! credentials.

use std::process::Command;

/// The features of hpp-core that `package` (with all its own features but hpp-core's own) turns
/// on, by its normal dependencies.
fn core_features_of(package: &str) -> String {
    let all_features = if package == "hpp-core" { None } else { Some("--all-features") };
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-e", "normal,features", "-i", "hpp-core"])
        .args(all_features)
        .args(["--prefix", "none", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn only_sibling_tools_enable_the_private_module() {
    for sibling in ["hpp-sandbox", "hpp-cli", "hpp-testing"] {
        assert!(core_features_of(sibling).contains(r#"hpp-core feature "__private""#), "{sibling} needs it");
    }
    // What a production app depends on: none of them opens it.
    for production in ["hpp-core", "hpp-reqwest", "hpp-hyper", "hpp-runtime", "hpp-postgres", "hpp-tracker"] {
        let features = core_features_of(production);
        assert!(!features.contains("__private"), "{production} enables hpp-core's __private:\n{features}");
    }
}
