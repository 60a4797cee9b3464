//! `cargo xtask doc-links`: the published crates' documentation, built as CI builds it
//! (`cargo doc --workspace --no-deps`), has no link left as literal text. rustdoc resolves a
//! link to another crate's item there only when that crate says where its documentation lives
//! (`#![doc(html_root_url = …)]`, checked here against the workspace version); otherwise it
//! prints the brackets (`[TrackingStore]`), which `-D warnings` does not catch.

use std::path::Path;
use std::process::{Command, ExitCode};

/// The published crates (package name), whose pages are checked.
const PUBLISHED: [&str; 13] = [
    "hpp-core",
    "hpp-runtime",
    "hpp-conformance",
    "hpp-testing",
    "hpp-sandbox",
    "hpp-tracker",
    "hpp-postgres",
    "hpp-postgres-schema",
    "hpp-sqlx",
    "hpp-reqwest",
    "hpp-hyper",
    "hpp-ureq",
    "hpp-cli",
];

pub(crate) fn run(root: &Path, cargo: &str) -> ExitCode {
    let mut problems = Vec::new();
    let version = workspace_version(root).unwrap_or_default();
    for name in PUBLISHED.iter().filter(|name| **name != "hpp-cli") {
        let lib = root.join("crates").join(name).join("src/lib.rs");
        let expected = format!("#![doc(html_root_url = \"https://docs.rs/{name}/{version}\")]");
        if !std::fs::read_to_string(&lib).is_ok_and(|text| text.contains(&expected)) {
            problems.push(format!("{}: lacks `{expected}`", lib.display()));
        }
    }
    let built =
        Command::new(cargo).args(["doc", "--workspace", "--no-deps", "--locked", "--quiet"]).current_dir(root).status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("xtask doc-links: cargo doc failed");
        return ExitCode::FAILURE;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    for name in PUBLISHED {
        let dir = if name == "hpp-cli" { "kustom_hpp".to_owned() } else { name.replace('-', "_") };
        let mut pages = Vec::new();
        html_files(&target.join("doc").join(&dir), &mut pages);
        for page in pages {
            let Ok(html) = std::fs::read_to_string(&page) else { continue };
            for residue in literal_links(&html) {
                let shown = page.strip_prefix(&target).unwrap_or(&page).display().to_string();
                problems.push(format!("{shown}: `{residue}` is shown as text, not a link"));
            }
        }
    }
    if problems.is_empty() {
        println!("doc links: every link in the published crates' documentation resolves");
        return ExitCode::SUCCESS;
    }
    problems.sort();
    problems.dedup();
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!(
        "xtask doc-links: {} problem(s). A link to another crate's item needs that crate's html_root_url \
         (ours) or a URL (`[reqwest](https://docs.rs/reqwest/0.13)`, for crates that set none)",
        problems.len()
    );
    ExitCode::FAILURE
}

fn workspace_version(root: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let package = &manifest[manifest.find("[workspace.package]")?..];
    let line = package.lines().find(|l| l.trim_start().starts_with("version"))?;
    Some(line.split('"').nth(1)?.to_owned())
}

fn html_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

/// Each `[name]` or `[<code>path</code>]` in a doc block's prose (not in `<pre>`, not an
/// attribute's `#[…]`, not a link's `[text](…)`): what rustdoc leaves of a link it could not
/// resolve.
fn literal_links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<div class=\"docblock") {
        rest = &rest[start..];
        let end = rest.find("</div>").unwrap_or(rest.len());
        let block = without_pre(&rest[..end]);
        let bytes = block.as_bytes();
        for (at, _) in block.match_indices('[') {
            // An attribute (`#[test]`) or an index (`responses[n]`), not a link.
            if at > 0 && (bytes[at - 1] == b'#' || bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let inner = &block[at + 1..];
            let Some(close) = inner.find(']') else { continue };
            let name = inner[..close].trim_start_matches("<code>").trim_end_matches("</code>");
            let is_path = !name.is_empty()
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if is_path && !inner[close + 1..].starts_with('(') {
                found.push(format!("[{name}]"));
            }
        }
        rest = &rest[end..];
    }
    found
}

/// `block` with every `<pre …>…</pre>` (code examples) left out.
fn without_pre(block: &str) -> String {
    let mut out = String::new();
    let mut rest = block;
    while let Some(start) = rest.find("<pre") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("</pre>").map_or("", |end| &rest[start + end + "</pre>".len()..]);
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::literal_links;

    #[test]
    fn finds_what_rustdoc_leaves_of_an_unresolved_link_and_nothing_else() {
        let html = "<div class=\"docblock\"><p>[<code>TrackingStore</code>] and [ureq] transport; \
                    <a href=\"x\"><code>Linked</code></a>, <code>#[non_exhaustive]</code>, <code>a[n]</code>, \
                    [text](not-a-residue), [two words]</p><pre>let a = [x];</pre></div>";
        assert_eq!(literal_links(html), ["[TrackingStore]", "[ureq]"]);
    }
}
