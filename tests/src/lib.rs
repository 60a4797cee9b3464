//! Test support shared by the workspace's cross-transport tests and examples: response fixtures,
//! the scripted loopback HTTP server (from `hpp-conformance`), the chaos run and the fuzz checks.

pub mod chaos;
pub mod checks;
pub mod fixture;
pub use hpp_conformance::loopback;
