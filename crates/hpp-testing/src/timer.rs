//! [`VirtualTimer`]: a [`Timer`] for tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hpp_core::transport::Timer;

/// A [`Timer`] for tests: every sleep completes at once and moves its clock forward by the time
/// asked for, so retries and watches run instantly and deterministically. Clones share one clock;
/// keep one to look at what was waited.
///
/// Jitter is fixed (1.0 by default: each backoff waits its full ceiling). Because sleeps complete
/// at once, a per-call timeout ends any attempt whose transport does not answer when first asked.
///
/// ```
/// use std::time::Duration;
/// use hpp_core::transport::Timer;
/// use hpp_testing::VirtualTimer;
/// let timer = VirtualTimer::new();
/// hpp_runtime::block_on(timer.sleep(Duration::from_secs(3)));
/// assert_eq!(timer.now(), Duration::from_secs(3));
/// assert_eq!(timer.slept(), [Duration::from_secs(3)]);
/// ```
#[derive(Debug, Clone)]
pub struct VirtualTimer {
    state: Arc<Mutex<VirtualState>>,
}

#[derive(Debug)]
struct VirtualState {
    start: SystemTime,
    slept: Vec<Duration>,
    elapsed: Duration,
    jitter: f64,
}

impl VirtualTimer {
    /// A clock at the Unix epoch with jitter 1.0.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::UNIX_EPOCH)
    }

    /// A clock whose wall time starts at `start`.
    pub fn starting_at(start: SystemTime) -> Self {
        let state = VirtualState { start, slept: Vec::new(), elapsed: Duration::ZERO, jitter: 1.0 };
        Self { state: Arc::new(Mutex::new(state)) }
    }

    /// Uses `jitter` (clamped to `[0, 1]`) as every sample.
    pub fn with_jitter(self, jitter: f64) -> Self {
        self.lock().jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 };
        self
    }

    /// Moves the clock forward without a sleep (as if the transport took this long).
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.elapsed = state.elapsed.saturating_add(by);
    }

    /// Every sleep asked for so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.lock().slept.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        // A panic while holding this lock cannot leave the state inconsistent: keep going.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for VirtualTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for VirtualTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let mut state = self.lock();
        state.slept.push(duration);
        state.elapsed = state.elapsed.saturating_add(duration);
        Box::pin(std::future::ready(()))
    }

    fn now(&self) -> Duration {
        self.lock().elapsed
    }

    fn system_now(&self) -> SystemTime {
        let state = self.lock();
        state.start.checked_add(state.elapsed).unwrap_or(state.start)
    }

    fn jitter(&self) -> f64 {
        self.lock().jitter
    }
}
