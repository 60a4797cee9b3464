//! Tokio for `hpp_core`: [`TokioTimer`], the [`Timer`] a `Client` on Tokio waits with (its
//! retries, per-call timeouts and status watches), and [`Poller`], the background task that
//! reads tracked sessions whose callbacks never came.
//!
//! It reads Tokio's clock, so tests under `tokio::time::pause()` (or
//! `#[tokio::test(start_paused = true)]`) reach deadlines and expiry without waiting.
//!
//! ```no_run
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let transport = |_r: hpp_core::Request| async { Err::<hpp_core::Response, _>(hpp_core::TransportError::connect("x")) };
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, transport, hpp_tokio::TokioTimer::new());
//! # Ok(()) }
//! ```

use std::time::{Duration, SystemTime};

use hpp_core::Timer;

/// What a `Timer`'s sleep returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

mod poller;

pub use poller::{PollRound, Poller, PollerOptions};

/// Tokio's sleep and clock, the wall clock moved along with Tokio's (so it advances under paused
/// time too), and
/// [`hpp_blocking::jitter`].
#[derive(Debug, Clone, Copy)]
pub struct TokioTimer {
    origin: tokio::time::Instant,
}

impl TokioTimer {
    /// A timer whose monotonic clock starts now.
    pub fn new() -> Self {
        Self { origin: tokio::time::Instant::now() }
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }

    fn system_now(&self) -> SystemTime {
        // Tokio's clock runs ahead of (or behind) the real one by what a paused test advanced
        // (or by the real time since the pause); move the wall clock by the same amount.
        let tokio_now = tokio::time::Instant::now().into_std();
        let real_now = std::time::Instant::now();
        let wall = SystemTime::now();
        match tokio_now.checked_duration_since(real_now) {
            Some(ahead) => wall.checked_add(ahead).unwrap_or(wall),
            None => wall.checked_sub(real_now.duration_since(tokio_now)).unwrap_or(wall),
        }
    }

    fn jitter(&self) -> f64 {
        hpp_blocking::jitter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn clocks_follow_paused_time() {
        let timer = TokioTimer::new();
        let wall = timer.system_now();
        timer.sleep(Duration::from_secs(3600)).await;
        assert_eq!(timer.now(), Duration::from_secs(3600));
        let moved = timer.system_now().duration_since(wall).unwrap();
        // An hour of paused time; the wall and monotonic clocks are read a few nanoseconds apart.
        assert!(moved > Duration::from_secs(3599) && moved < Duration::from_secs(3601), "{moved:?}");
    }
}
