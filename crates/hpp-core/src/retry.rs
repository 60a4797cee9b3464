//! When to send a request again: a pure decision, given what happened, how many attempts were
//! made, how long they took and a jitter sample, all supplied by the caller.
//!
//! The policy follows [`Error::side_effect`], the SDK's one answer to "did it happen?":
//! - Nothing is retried after [`Error::InvalidInput`] or [`Error::Decode`].
//! - A request that provably never left (a connect failure:
//!   [`SideEffect::DidNotHappen`]) is retried whatever the
//!   operation, and so is a 429 (refused for now; `Retry-After` honoured).
//! - Read and disable ([`Operation::REPEATABLE`](crate::Operation::REPEATABLE)) are also
//!   retried when the side effect is [`Unknown`](SideEffect::Unknown): timeouts, broken
//!   connections and 5xx.
//! - Create and distribute (not repeatable: POSTs without an idempotency key) are not retried when their side effect is unknown, except a 503 when the caller opted in with
//!   [`RetryPolicy::with_side_effect_retry_on_503`], accepting that the consumer may get a second
//!   message.
//! - Other refusals (4xx) are not retried: the same request would be refused again.
//! - `EMAIL_LIMIT_EXCEEDED` is a daily quota and is never retried.
//! - Backoff is capped exponential with full jitter; attempts and total time are bounded.
//!
//! The client applies the policy to every call. After a call failed for good, one question is
//! left, *may I try later, and when?*: [`RetryPolicy::retry_later`] answers it by the same rules.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use hpp_core::retry::RetryPolicy;
//! use hpp_core::{CreateSession, Error, Operation, TransportError};
//!
//! let policy = RetryPolicy::default();
//! let refused = Error::Transport(TransportError::connect("connection refused"));
//! let now = SystemTime::UNIX_EPOCH; // the caller's wall clock, for Retry-After dates
//! // Nothing was sent: even a create may be tried again, after the policy's first backoff.
//! assert_eq!(policy.retry_later(CreateSession::REPEATABLE, &refused, now), Some(Duration::from_millis(500)));
//! // A custom driver's retry loop: attempt 1 failed at once; wait, with a jitter sample of 0.5.
//! assert_eq!(policy.decide(CreateSession::REPEATABLE, 1, Duration::ZERO, &refused, 0.5, now), Ok(Duration::from_millis(250)));
//! ```

use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorCode, RetryAfter, SideEffect};

/// Why the policy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The error is not one that a retry can fix.
    NotRetryable,
    /// The side effect may have happened ([`SideEffect::Unknown`])
    /// and repeating the request may repeat it.
    SideEffectUnknown,
    /// A daily quota: retrying now cannot succeed.
    Quota,
    /// The attempt limit is reached.
    Attempts,
    /// The next wait would pass the total time limit, or `Retry-After` asks for longer than the
    /// policy waits.
    TimeBudget,
    /// `Retry-After` could not be understood (neither seconds nor an HTTP-date, or out of range):
    /// retrying at once would ignore what the server asked.
    UnusableRetryAfter,
}

/// How a call is attempted: bounds and switches of the retry decision, and the time each
/// attempt may take. `Default`: 3 attempts, 500 ms initial backoff doubling to at most 5 s, 30 s
/// in all, `Retry-After` honoured up to 10 s, each attempt bounded by the transport's timeout.
/// The client's (`Client::with_retry_policy`) applies to every call; `Client::send_with` takes
/// one for a single call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
    max_retry_after: Duration,
    side_effect_retry_on_503: bool,
    /// The time each attempt may take in all, when set (the transport's default otherwise).
    pub(crate) attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(10),
            side_effect_retry_on_503: false,
            attempt_timeout: None,
        }
    }
}

impl RetryPolicy {
    /// Each attempt may take `timeout` in all (connect, send, response, body), instead of the
    /// transport's default: the client enforces it with its `Timer` and hands it to the
    /// transport as [`RequestTimeout`](crate::transport::RequestTimeout).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Never retries: one attempt.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// At most `attempts` attempts in all (1 means no retry).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Backoff before the first retry, doubling each time up to `max`.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// No retry starts after `limit` has passed since the first attempt.
    pub fn with_max_elapsed(mut self, limit: Duration) -> Self {
        self.max_elapsed = limit;
        self
    }

    /// The longest `Retry-After` that is waited for; a longer one ends the retries.
    pub fn with_max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// Also retry create and distribute on a 503. **The consumer may get a second message**: a
    /// 503 can follow a distribution that was in fact sent. Opt in per call, knowingly.
    pub fn with_side_effect_retry_on_503(mut self, enabled: bool) -> Self {
        self.side_effect_retry_on_503 = enabled;
        self
    }

    /// The attempt limit.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Decides after attempt number `attempt` (from 1) of an operation (`repeatable`: its
    /// [`Operation::REPEATABLE`](crate::Operation::REPEATABLE)) failed with `error`, `elapsed` after the first attempt started:
    /// `Ok(wait)` to send again after `wait`, or why not. `jitter` is a sample from `[0, 1)`
    /// (values outside are clamped); `now` is the wall clock, for a `Retry-After` given as an
    /// HTTP-date. The client runs this after every failed attempt; a driver of its own can too.
    pub fn decide(
        &self,
        repeatable: bool,
        attempt: u32,
        elapsed: Duration,
        error: &Error,
        jitter: f64,
        now: SystemTime,
    ) -> Result<Duration, GiveUpReason> {
        let retry_after = self.classify(repeatable, error)?;
        if attempt >= self.max_attempts {
            return Err(GiveUpReason::Attempts);
        }
        let wait = match retry_after.map(|after| after.delay_from(now)) {
            Some(None) => return Err(GiveUpReason::UnusableRetryAfter),
            Some(Some(after)) if after > self.max_retry_after => return Err(GiveUpReason::TimeBudget),
            Some(Some(after)) => after,
            None => self.backoff(attempt, jitter),
        };
        if elapsed.saturating_add(wait) > self.max_elapsed {
            return Err(GiveUpReason::TimeBudget);
        }
        Ok(wait)
    }

    /// *May I try later, and when?* After a call of an operation (`repeatable`: its
    /// [`Operation::REPEATABLE`](crate::Operation::REPEATABLE)) failed with `error`, whatever retries were made:
    /// `Some(wait)` when the same call may succeed if made again, at the earliest after `wait`
    /// (the server's `Retry-After` when it sent a usable one, however long; otherwise this
    /// policy's first backoff); `None` when trying again cannot help or is not safe. Same rules
    /// as [`decide`](Self::decide), without its attempt and time bounds: a 429 or a connection
    /// refused yes, the daily e-mail quota (`EMAIL_LIMIT_EXCEEDED`) no, a create or distribution
    /// that may have been sent no (read the session first), a read that timed out yes.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use hpp_core::retry::RetryPolicy;
    /// use hpp_core::{DistributeSession, Error, Operation, TransportError};
    /// let policy = RetryPolicy::default();
    /// let now = SystemTime::UNIX_EPOCH;
    /// let timed_out = Error::Transport(TransportError::timeout("no answer in 10 s"));
    /// assert_eq!(policy.retry_later(DistributeSession::REPEATABLE, &timed_out, now), None, "may have been sent");
    /// ```
    pub fn retry_later(&self, repeatable: bool, error: &Error, now: SystemTime) -> Option<Duration> {
        let retry_after = self.classify(repeatable, error).ok()?;
        Some(retry_after.and_then(|after| after.delay_from(now)).unwrap_or(self.initial_backoff))
    }

    /// Full jitter: a uniform sample of `[0, min(max, initial * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 };
        ceiling.mul_f64(jitter)
    }

    /// `Ok(retry_after)` if the error is retryable for this operation, else why not.
    fn classify(&self, repeatable: bool, error: &Error) -> Result<Option<RetryAfter>, GiveUpReason> {
        match error {
            // Refused before sending: deterministic, the same again.
            Error::Transport(e) if e.kind() == crate::TransportErrorKind::NotSent => Err(GiveUpReason::NotRetryable),
            Error::Transport(_) => match (error.side_effect(), repeatable) {
                (SideEffect::DidNotHappen, _) | (_, true) => Ok(None),
                (_, false) => Err(GiveUpReason::SideEffectUnknown),
            },
            Error::Api(api) => {
                if api.error_code() == Some(&ErrorCode::EmailLimitExceeded) {
                    return Err(GiveUpReason::Quota);
                }
                let status = api.status().as_u16();
                let retry_after = api.retry_after_header();
                match (repeatable, api.side_effect(), status) {
                    (_, SideEffect::DidNotHappen, 429) => Ok(retry_after),
                    (_, SideEffect::DidNotHappen, _) => Err(GiveUpReason::NotRetryable),
                    (true, _, 500..=599) => Ok(retry_after),
                    (false, _, 503) if self.side_effect_retry_on_503 => Ok(retry_after),
                    (false, _, _) => Err(GiveUpReason::SideEffectUnknown),
                    (true, _, _) => Err(GiveUpReason::NotRetryable),
                }
            }
            Error::InvalidInput(_) | Error::Decode(_) => Err(GiveUpReason::NotRetryable),
        }
    }
}
