//! The cross-transport tests: one binary (one link), one module per subject. Run one subject with
//! `cargo test -p hpp-tests --test it <module>::`.

mod browser;
mod callbacks;
mod chaos;
mod faults;
mod fuzz_corpus;
mod logs;
mod readme;
mod recording;
mod sandbox_conformance;
mod sandbox_fidelity;
mod sandbox_http;
mod sans_io;
mod spec_conformance;
mod tracking;
mod transport_contract;
mod transports;
