//! [`TokioTimer`]: what `hpp_core::Client` needs to retry and to watch a session, on Tokio.
//!
//! The transports `hpp-hyper` and `hpp-reqwest` return it from `Transport::timer`; a transport
//! of your own on Tokio can do the same:
//!
//! ```
//! # use hpp_core::{Request, Response, TransportError};
//! struct MyTransport;
//! impl hpp_core::Transport for MyTransport {
//!     fn send(&self, _request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send {
//!         async { Err(TransportError::connect("not connected")) }
//!     }
//!     fn timer(&self) -> Option<&dyn hpp_core::Timer> {
//!         Some(&hpp_tokio::TokioTimer)
//!     }
//! }
//! ```

use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use hpp_core::Timer;

/// Tokio's timer, the system clocks, and jitter from the standard library's random hash keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn jitter(&self) -> f64 {
        let sample = RandomState::new().hash_one(Instant::now());
        // 53 random bits make a uniform f64 in [0, 1).
        (sample >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_in_range_and_varies() {
        let samples: Vec<f64> = (0..100).map(|_| TokioTimer.jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        let mut distinct = samples.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(distinct.len() > 90, "jitter samples repeat: {}", distinct.len());
    }
}
