//! Test support shared by the workspace's cross-transport tests: response fixtures and a
//! scripted loopback HTTP server that records what it received.

pub mod checks;
pub mod fixture;
pub use hpp_conformance::loopback;
