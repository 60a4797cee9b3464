//! [`StdTimer`]: the [`Timer`] for an `hpp_core::Client` in blocking code, over a blocking
//! transport (ureq, curl, a synchronous test double), run with [`block_on`].
//!
//! Its sleeps block the calling thread, which is what blocking code wants and what an async
//! runtime must never see: on Tokio use `hpp_tokio::TokioTimer`.
//!
//! ```
//! use hpp_blocking::{StdTimer, block_on};
//! use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
//! // A blocking transport: the whole exchange happens inside `send`, before the future is returned.
//! let blocking = |_request: Request| {
//!     let response: Result<Response, TransportError> =
//!         Ok(http::Response::builder().status(200).body(br#"{"status":"WAITING"}"#.to_vec()).unwrap());
//!     std::future::ready(response)
//! };
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
//! let client = Client::new(config, blocking, StdTimer::new());
//! let session = block_on(client.read_session("s1"))?;
//! assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant, SystemTime};

pub use hpp_core::block_on;
use hpp_core::{BoxFuture, Timer};

/// `std::thread::sleep`, the standard library's clocks, and jitter from its random hash keys.
#[derive(Debug, Clone, Copy)]
pub struct StdTimer {
    origin: Instant,
}

impl StdTimer {
    /// A timer whose monotonic clock starts now.
    pub fn new() -> Self {
        Self { origin: Instant::now() }
    }
}

impl Default for StdTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for StdTimer {
    /// Blocks the thread for `duration` when first polled.
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(async move { std::thread::sleep(duration) })
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn jitter(&self) -> f64 {
        jitter()
    }
}

/// A uniform sample from `[0, 1)`, from the standard library's random hash keys: jitter for
/// retry backoff (not for anything secret). `hpp_tokio::TokioTimer` uses it too.
pub fn jitter() -> f64 {
    let sample = RandomState::new().hash_one(Instant::now());
    // 53 random bits make a uniform f64 in [0, 1).
    (sample >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_block_for_the_time_asked_and_the_clock_moves() {
        let timer = StdTimer::new();
        let before = timer.now();
        block_on(timer.sleep(Duration::from_millis(20)));
        assert!(timer.now() - before >= Duration::from_millis(20));
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let samples: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        let mut distinct = samples.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(distinct.len() > 90, "jitter samples repeat: {}", distinct.len());
    }
}
