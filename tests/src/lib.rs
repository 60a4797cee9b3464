//! Test support shared by the workspace's cross-transport tests and examples: response fixtures,
//! the scripted loopback HTTP server (from `hpp-conformance`), the chaos run, the fuzz checks and
//! the published spec as a checker.

pub mod chaos;
pub mod checks;
/// Response fixtures, from hpp-core's tests (where the files live).
#[path = "../../crates/hpp-core/tests/it/fixture.rs"]
pub mod fixture;
pub mod spec;
pub mod tracking;
pub use hpp_conformance::loopback;
