//! Response fixtures: raw HTTP/1.1 responses in files, one per scenario.
//!
//! Format: leading `# source: …` comment lines, the status line, headers, a blank line, and the
//! body bytes exactly as they follow (no trailing newline is added or removed).

use std::path::{Path, PathBuf};

/// The directory of the response fixtures (`crates/hpp-core/tests/fixtures/<operation>/<case>.http`),
/// from hpp-core's own tests (this file's home, inside the package) or from the workspace's
/// `hpp-tests`, which includes this file.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests/fixtures");
    if own.is_dir() { own } else { manifest.join("../crates/hpp-core/tests/fixtures") }
}

/// Every fixture file, sorted.
pub fn all() -> Vec<PathBuf> {
    let root = root();
    let mut all: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flat_map(|dir| std::fs::read_dir(dir.expect("a fixture directory").path()).expect("readable"))
        .map(|f| f.expect("a fixture file").path())
        .collect();
    all.sort();
    assert!(all.len() >= 30, "fixtures not found under {}", root.display());
    all
}

/// A fixture file read into an `http::Response`, with the source it cites.
pub struct Fixture {
    /// The `# source:` comment.
    pub source: String,
    /// The response.
    pub response: http::Response<Vec<u8>>,
}

/// Reads and parses a fixture file.
pub fn load(path: &Path) -> Fixture {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses fixture bytes.
pub fn parse(bytes: &[u8]) -> Result<Fixture, String> {
    let split = bytes.windows(2).position(|w| w == b"\n\n").ok_or("no blank line after the headers")?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|e| e.to_string())?;
    let body = bytes[split + 2..].to_vec();
    let mut source = String::new();
    let mut lines = head.lines().filter(|line| {
        if let Some(comment) = line.strip_prefix('#') {
            source.push_str(comment.trim().trim_start_matches("source:").trim());
            false
        } else {
            true
        }
    });
    let status_line = lines.next().ok_or("no status line")?;
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("bad status line")?;
    let mut builder = http::Response::builder().status(status);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    let response = builder.body(body).map_err(|e| e.to_string())?;
    Ok(Fixture { source, response })
}
