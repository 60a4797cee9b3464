//! Test support shared by the workspace's cross-transport tests and examples: response fixtures,
//! the scripted loopback HTTP server (from `hpp-conformance`), and a sandbox on its own thread.

pub mod chaos;
pub mod checks;
pub mod fixture;
pub use hpp_conformance::loopback;
mod own_thread;
pub use own_thread::sandbox_on_own_thread;
