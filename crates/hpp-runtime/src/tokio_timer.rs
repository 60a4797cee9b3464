//! [`TokioTimer`]: the timer of a `Client` on Tokio.

use std::time::{Duration, SystemTime};

use hpp_core::Timer;

/// What a `Timer`'s sleep returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Tokio's sleep and clock, the wall clock moved along with Tokio's (so it advances under paused
/// time too), and the standard library's random hash keys for jitter. Outside a Tokio runtime (a
/// client in blocking code, under `block_on`) it sleeps as [`StdTimer`](crate::StdTimer) does,
/// instead of panicking at the first retry.
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
        // Outside a Tokio runtime (a client built in blocking code, driven by `block_on`), Tokio's
        // sleep would panic at the first retry; sleep as `StdTimer` does instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return crate::StdTimer::new().sleep(duration);
        }
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
        crate::std_timer::jitter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built and used in blocking code, with no runtime (an easy copy of the README's setup into
    /// a ureq program): the first retry's sleep used to panic "there is no reactor running".
    #[test]
    fn works_in_blocking_code_through_a_retry() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let timer = TokioTimer::new();
        crate::block_on(timer.sleep(Duration::from_millis(1)));
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let transport = move |_request: hpp_core::Request| {
            let status = if seen.fetch_add(1, Ordering::SeqCst) == 0 { 503 } else { 200 };
            let body = br#"{"status":"WAITING"}"#.to_vec();
            std::future::ready(Ok::<hpp_core::Response, hpp_core::TransportError>(
                http::Response::builder().status(status).body(body).unwrap(),
            ))
        };
        let config = hpp_core::Config::new(
            hpp_core::Environment::Kustom(hpp_core::Mode::Playground),
            hpp_core::Credentials::api_key("kco_test_api_k").unwrap(),
        );
        let client = hpp_core::Client::new(config, transport, timer);
        let session = crate::block_on(client.read_session("s1")).unwrap();
        assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "retried after a sleep");
    }

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
