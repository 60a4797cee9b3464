//! `cargo xtask public-api [--bless]`: the public API of every published library crate, one
//! item per line, compared with the committed `api/<crate>.txt`, so any change to it is a
//! reviewed diff. `--bless` writes the files instead.
//!
//! Rustdoc's JSON output is unstable; `RUSTC_BOOTSTRAP=1` lets the stable toolchain emit it.
//! The `public-api` crate reads one format version (see xtask/Cargo.toml): after a toolchain
//! update, update that pin too. Items hidden with `#[doc(hidden)]` (such as
//! `hpp_core::__private`) are not part of the API and not listed; blanket impls are left out as
//! noise, auto traits (`Send`, `Sync`, ...) and derived impls are kept: losing one breaks users.
//!
//! It also prints each crate's size, counted from that listing ([`Size`]): named items and
//! inherent methods. hpp-core is held to a budget ([`CORE_BUDGET`]): going over it fails.

use std::path::Path;
use std::process::{Command, ExitCode};

/// The published library crates, with the features their API is listed with.
const CRATES: [(&str, &[&str]); 12] = [
    ("hpp-core", &["--all-features"]),
    ("hpp-reqwest", &[]),
    ("hpp-hyper", &[]),
    ("hpp-ureq", &[]),
    ("hpp-runtime", &["--all-features"]),
    ("hpp-conformance", &[]),
    ("hpp-testing", &[]),
    ("hpp-sandbox", &[]),
    ("hpp-postgres", &["--all-features"]),
    ("hpp-postgres-schema", &[]),
    ("hpp-sqlx", &[]),
    ("hpp-tracker", &[]),
];

/// hpp-core's size budget: at most this many named public items and inherent methods (issue
/// 23). Every item has to earn its place; raise this only with a reason in the commit.
/// 62 (was 60): the tracker's step moved into the core (issue 32): `Step`, `Commit` and `Due`
/// in, `Transition` out; `HandOff::run_step` went too. 124 methods (was 120): the tracker's
/// promise grew (issue 33): `TrackedSession::observe_callback` (a callback is not a read),
/// `is_confirmed`, `with_order_key` and `order_key` (once per order),
/// `CallbackSecret::append_for_order` and `order_of_uri` (per-order callback URLs): 126; and
/// `TrackedSession::is_parked` (issue 34: poison is parked): 127. 64 items, 129 methods (issue
/// 37: errors know their operation): `OperationKind` and `Action`, `Error::operation` and
/// `Error::action` (an app maps errors to its outcomes in one match, not 27 lines). 65 items, 135
/// methods (issue 35: running the tracker): `HandOffError` (`new`, `kind`, `kind_of`: the app's
/// error kind operators see), `TrackedSession::reference`, `last_error_kind` and `unpark` (made
/// public: an operator's retry marks a parked session due without running the app's code); 66
/// items: `Counts` (what `TrackingStore::counts` answers, for metrics and operators). 137
/// methods (issue 36: a read budget): `TrackedSession::read_priority` (the order claims take under
/// the budget), `TrackedSession::claim_order` (the one order every store's claims take) and
/// `TrackingPolicy::read_allowance` (the budget's arithmetic, for stores): 138. 67 items, 141
/// methods (one rule each, moved in from the PostgreSQL stores): `Standing` with `as_str` and
/// `TrackedSession::standing` (the memory store's counts and the operator's view classified
/// alike), `HandOffError::classified` (both PostgreSQL stores name a driver error by SQLSTATE).
/// 69 items, 146 methods (issue 36: a receiver step in one round trip): `Received` with `new`,
/// `recording` and `Recording` with `answer` (what a store records for a callback, when its
/// session is due, and what it answers: one rule for both PostgreSQL stores) and `list_from_json`
/// (how both read recorded callbacks back), and `Step::decide_with_received` (recorded callbacks
/// applied by the step, in the core). 70 items, 147 methods: `ReadFailure` with `of`, made public
/// (the poller counted reads and paused on a 429 by re-deriving it from the error). 71 items, 148
/// methods (issue 36: callbacks recorded in batches): `CallbackRow` with `Recording::row` (the
/// owned row both PostgreSQL stores batch, built in one place). 72 items: `receive_by_recording`
/// (a recording store's `receive`, written once for both PostgreSQL stores).
pub(crate) const CORE_BUDGET: Size = Size { items: 72, methods: 148 };

/// The size of a crate's public API, counted from its `api/<crate>.txt` listing.
///
/// - An *item* is a struct, enum, trait, type alias, const, static or free function whose parent
///   is a module, counted once by its name whatever paths re-export it.
/// - A *method* is a `pub fn` of an inherent `impl` (not `impl Trait for`), counted once per type
///   name and method name.
///
/// Anything under a `__private` module is left out (hidden items are not listed anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) items: usize,
    pub(crate) methods: usize,
}

impl Size {
    pub(crate) fn of(listing: &str) -> Self {
        use std::collections::BTreeSet;
        let modules: BTreeSet<&str> = listing.lines().filter_map(|l| l.strip_prefix("pub mod ")).collect();
        let mut items = BTreeSet::new();
        let mut methods = BTreeSet::new();
        // Whether the lines being read belong to an inherent impl block.
        let mut in_inherent_impl = false;
        for line in listing.lines() {
            if line.contains("__private") {
                continue;
            }
            if line.starts_with("impl") {
                in_inherent_impl = !line.contains(" for ");
                continue;
            }
            // Attributes (`#[non_exhaustive] `) and qualifiers before the kind.
            let mut rest = line;
            while let Some(after) = rest.strip_prefix("#[") {
                rest = after.split_once("] ").map_or("", |(_, r)| r);
            }
            let Some(rest) = rest.strip_prefix("pub ") else { continue };
            let words: Vec<&str> = rest.split_whitespace().collect();
            // Qualifiers before `fn`; `pub const NAME: T` is a const, `pub const fn` a function.
            let Some(at) = words
                .iter()
                .position(|w| !(matches!(*w, "async" | "unsafe" | "extern") || *w == "const" && words.contains(&"fn")))
            else {
                continue;
            };
            let kind = words[at];
            let path = path_without_generics(&words[at + 1..].join(" "));
            let path = path.as_str();
            let Some((parent, name)) = path.rsplit_once("::") else { continue };
            match kind {
                "struct" | "enum" | "trait" | "type" | "const" | "static" | "fn" if modules.contains(parent) => {
                    items.insert(name.to_owned());
                    if kind != "fn" {
                        in_inherent_impl = false;
                    }
                }
                "fn" if in_inherent_impl => {
                    let type_name = parent.rsplit("::").next().unwrap_or(parent);
                    methods.insert((type_name.to_owned(), name.to_owned()));
                }
                "struct" | "enum" | "trait" | "type" => in_inherent_impl = false,
                _ => {}
            }
        }
        Self { items: items.len(), methods: methods.len() }
    }
}

/// The path at the start of `text` with generic arguments removed: `a::B<T>::c<'x>(…)` is
/// `a::B::c`. Ends at the first space, `(`, `=` or `: ` outside generics.
fn path_without_generics(text: &str) -> String {
    let mut path = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            ' ' | '(' | '=' => break,
            ':' if chars.peek() != Some(&':') && !path.ends_with(':') => break,
            _ => path.push(c),
        }
    }
    path
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} named items, {} inherent methods", self.items, self.methods)
    }
}

pub(crate) fn run(root: &Path, cargo: &str, args: &[String]) -> ExitCode {
    let bless = args.iter().any(|a| a == "--bless");
    // The shared target directory: only the documented crate is rebuilt (its dependencies'
    // metadata is reused), and the JSON lands beside the HTML docs.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let mut changed = Vec::new();
    let mut over_budget = false;
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
        let size = Size::of(&api);
        println!("{name}: {size}");
        if name == "hpp-core" && (size.items > CORE_BUDGET.items || size.methods > CORE_BUDGET.methods) {
            eprintln!("xtask public-api: hpp-core is over its budget of {CORE_BUDGET} (xtask/src/public_api.rs)");
            over_budget = true;
        }
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
    if over_budget {
        return ExitCode::FAILURE;
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

#[cfg(test)]
mod tests {
    use super::Size;

    #[test]
    fn items_are_counted_once_by_name_and_methods_only_in_inherent_impls() {
        let listing = "\
pub mod k
pub mod k::m
#[non_exhaustive] pub enum k::m::E
pub k::m::E::A
impl k::m::E
pub const fn k::m::E::as_str(&self) -> &str
pub fn k::m::E::parse(&str) -> Self
impl core::fmt::Debug for k::m::E
pub fn k::m::E::fmt(&self, &mut core::fmt::Formatter<'_>) -> core::fmt::Result
pub enum k::E
impl k::m::E
pub fn k::m::E::parse(&str) -> Self
pub struct k::S<T>
impl<T: k::Tr> k::S<T>
pub async fn k::S<T>::send<'a, O: k::Tr>(&'a self) -> u8
pub type k::S<T>::Out = u8
pub const k::S::NAME: &str
pub trait k::Tr
pub fn k::Tr::build(&self)
pub const k::LIMIT: usize
pub fn k::free(u8) -> u8
pub type k::Alias = u8
pub mod k::__private
pub fn k::__private::hidden()
";
        assert_eq!(Size::of(listing), Size { items: 6, methods: 3 });
    }
}
