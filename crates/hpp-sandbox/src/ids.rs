//! Unpredictable ids and credentials for the sandbox, from the standard library's per-process
//! random hash keys (not a cryptographic generator: good for a local test server only).

use std::hash::{BuildHasher, Hasher, RandomState};

pub(crate) struct IdSource {
    keys: RandomState,
    counter: u64,
}

impl IdSource {
    pub(crate) fn new() -> Self {
        Self { keys: RandomState::new(), counter: 0 }
    }

    fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        let mut hasher = self.keys.build_hasher();
        hasher.write_u64(self.counter);
        hasher.write_i64(crate::clock::now_millis());
        hasher.finish()
    }

    /// A UUID-shaped (version 4 layout) id.
    pub(crate) fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// A random token of 32 hex characters.
    pub(crate) fn token(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}
