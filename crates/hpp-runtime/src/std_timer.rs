//! [`StdTimer`], [`block_on`] and [`random_callback_secret`]: what blocking code needs.

use std::future::Future;
use std::sync::Arc;

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant, SystemTime};

use hpp_core::Timer;

/// What a `Timer`'s sleep returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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

/// A new callback secret: 128 bits from the operating system's random number generator, as 32
/// hex digits (URL-safe). Register `secret.append_to(url)` as `merchant_urls.status_update`, and
/// keep the secret where the receiver can read it (a vault, an environment variable).
///
/// ```
/// let secret = hpp_runtime::random_callback_secret()?;
/// assert!(secret.append_to("https://shop.example/cb").starts_with("https://shop.example/cb?secret="));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// An error means the operating system gave no random numbers (rare: very early in boot, or a
/// sandbox forbidding it).
pub fn random_callback_secret() -> Result<hpp_core::callback::CallbackSecret, std::io::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // invariant: 32 hex digits are a valid secret (16 to 256 URL-safe characters).
    Ok(hpp_core::callback::CallbackSecret::new(hex).expect("32 hex digits make a valid secret"))
}

/// A uniform sample from `[0, 1)`, from the standard library's random hash keys: jitter for
/// retry backoff (not for anything secret). [`TokioTimer`](crate::TokioTimer) uses it too.
pub(crate) fn jitter() -> f64 {
    let sample = RandomState::new().hash_one(Instant::now());
    // 53 random bits make a uniform f64 in [0, 1).
    (sample >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `future` to the end on the current thread, parking the thread while it waits: enough
/// for blocking code (a blocking transport with [`StdTimer`]) and for tests with
/// closure transports and `hpp_testing::VirtualTimer`. Not a runtime: futures that need Tokio's reactor
/// (hyper, reqwest) must run on Tokio.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
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
