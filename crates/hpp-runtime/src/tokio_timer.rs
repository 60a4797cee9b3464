//! [`TokioTimer`]: the timer of a `Client` on Tokio.

use std::time::{Duration, SystemTime};

use hpp_core::Timer;

/// What a `Timer`'s sleep returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Tokio's sleep and clock, the wall clock moved along with Tokio's (so it advances under paused
/// time too), and
/// the standard library's random hash keys for jitter.
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
        crate::std_timer::jitter()
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
