//! Knowing when a session is done: which statuses are final, and a polling schedule as a pure
//! state machine. The caller passes the time in; nothing here reads a clock.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use hpp_core::tracking::{PollSchedule, PollStep, Stop};
//! use hpp_core::{Session, SessionStatus};
//!
//! let mut schedule = PollSchedule::new(Duration::from_secs(2), Duration::from_secs(30));
//! let mut session = Session::default();
//! session.status = Some(SessionStatus::Waiting);
//! let now = SystemTime::UNIX_EPOCH;
//! assert_eq!(schedule.next(&session, now), PollStep::Wait(Duration::from_secs(2)));
//! session.status = Some(SessionStatus::Completed);
//! assert_eq!(schedule.next(&session, now), PollStep::Stop(Stop::Final(SessionStatus::Completed)));
//! ```

use std::time::{Duration, SystemTime};

use crate::model::{Session, SessionStatus};

impl SessionStatus {
    /// Whether the session can no longer change: `COMPLETED`, `CANCELLED`, `DISABLED`, and
    /// `TIMEOUT` (seen in callbacks: the session expired). Every other status, including ones this
    /// SDK does not know, may still change until the session expires.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Disabled | Self::Timeout)
    }
}

impl Session {
    /// `expires_at`, when present and well-formed.
    pub fn expires_at_time(&self) -> Option<SystemTime> {
        self.expires_at.as_deref().and_then(crate::time::parse_rfc3339)
    }

    /// Whether the session has expired at `now` (by its `expires_at`; unknown means no).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at_time().is_some_and(|expires| now >= expires)
    }
}

/// What to do after a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollStep {
    /// Read again after this long.
    Wait(Duration),
    /// Stop polling.
    Stop(Stop),
}

/// Why polling ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// The session reached a final status.
    Final(SessionStatus),
    /// The session expired (by `expires_at`, or the API no longer finds it).
    Expired,
}

/// When to read a session next. Starts at `initial` and doubles while the status stays the same,
/// up to `max`; a change of status starts again from `initial`. Never waits past `expires_at`.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    initial: Duration,
    max: Duration,
    current: Duration,
    last: Option<Option<SessionStatus>>,
}

impl PollSchedule {
    /// A schedule from `initial` to at most `max` between reads.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial), current: initial, last: None }
    }

    /// Whether `session`'s status differs from the one seen before (true for the first read).
    pub fn is_change(&self, session: &Session) -> bool {
        self.last.as_ref() != Some(&session.status)
    }

    /// Decides after reading `session` at `now`.
    pub fn next(&mut self, session: &Session, now: SystemTime) -> PollStep {
        let changed = self.is_change(session);
        self.last = Some(session.status.clone());
        if let Some(status) = session.status.as_ref().filter(|s| s.is_final()) {
            return PollStep::Stop(Stop::Final(status.clone()));
        }
        if session.is_expired(now) {
            return PollStep::Stop(Stop::Expired);
        }
        let wait = if changed {
            self.current = self.initial;
            self.initial
        } else {
            self.current = self.current.saturating_mul(2).min(self.max);
            self.current
        };
        // Read once more right after expiry, to see the final answer.
        let until_expiry = session.expires_at_time().and_then(|e| e.duration_since(now).ok());
        PollStep::Wait(until_expiry.map_or(wait, |left| wait.min(left)))
    }
}
