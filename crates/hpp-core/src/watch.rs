//! The schedule of one status watch ([`Client::wait_for_final_status`](crate::Client::wait_for_final_status)):
//! when to read a session next, from one process, until it is final or expired. (The tracker's
//! schedule, for many sessions and replicas, is [`TrackedSession`](crate::tracking::TrackedSession)'s.)

use std::time::{Duration, SystemTime};

use crate::model::{Session, SessionStatus};

/// What to do after a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PollStep {
    /// Read again after this long.
    Wait(Duration),
    /// Stop polling: the session reached a final status.
    Final(SessionStatus),
    /// Stop polling: the session expired (by `expires_at`, or the API no longer finds it).
    Expired,
}

/// When to read a session next. Starts at `initial` and doubles while the status stays the same,
/// up to `max`; a change of status starts again from `initial`. Never waits past `expires_at`.
#[derive(Debug, Clone)]
pub(crate) struct PollSchedule {
    initial: Duration,
    max: Duration,
    current: Duration,
    last: Option<Option<SessionStatus>>,
}

impl PollSchedule {
    /// A schedule from `initial` to at most `max` between reads.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial), current: initial, last: None }
    }

    /// Whether `session`'s status differs from the one seen before (true for the first read).
    pub(crate) fn is_change(&self, session: &Session) -> bool {
        self.last.as_ref() != Some(&session.status)
    }

    /// Decides after reading `session` at `now`.
    pub(crate) fn next(&mut self, session: &Session, now: SystemTime) -> PollStep {
        let changed = self.is_change(session);
        self.last = Some(session.status.clone());
        if let Some(status) = session.status.as_ref().filter(|s| s.is_final()) {
            return PollStep::Final(status.clone());
        }
        if session.is_expired(now) {
            return PollStep::Expired;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_decisions() {
        use std::time::UNIX_EPOCH;
        let session = |status: Option<&str>, expires_at: Option<&str>| Session {
            status: status.map(SessionStatus::from),
            expires_at: expires_at.map(str::to_owned),
            ..Session::default()
        };
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        const S: fn(u64) -> Duration = Duration::from_secs;
        // Expires at 1970-01-01T00:01:40Z = 100 s.
        let expires = Some("1970-01-01T00:01:40.000Z");
        // Each row: (status, expires_at, now in s, expected step); rows run in order on one schedule.
        let rows: Vec<(Option<&str>, Option<&str>, u64, PollStep)> = vec![
            (Some("WAITING"), expires, 0, PollStep::Wait(S(2))),
            (Some("WAITING"), expires, 2, PollStep::Wait(S(4))),
            (Some("WAITING"), expires, 6, PollStep::Wait(S(8))),
            (Some("WAITING"), expires, 14, PollStep::Wait(S(16))),
            (Some("WAITING"), expires, 30, PollStep::Wait(S(30))),
            (Some("WAITING"), expires, 60, PollStep::Wait(S(30))),
            (Some("IN_PROGRESS"), expires, 61, PollStep::Wait(S(2))),
            (Some("IN_PROGRESS"), expires, 63, PollStep::Wait(S(4))),
            (Some("BACK"), expires, 67, PollStep::Wait(S(2))),
            (Some("FAILED"), expires, 69, PollStep::Wait(S(2))),
            (Some("FAILED"), expires, 71, PollStep::Wait(S(4))),
            (Some("FAILED"), expires, 75, PollStep::Wait(S(8))),
            (Some("FAILED"), expires, 83, PollStep::Wait(S(16))),
            (Some("FAILED"), expires, 95, PollStep::Wait(S(5))),
            (Some("FAILED"), expires, 100, PollStep::Expired),
        ];
        let mut schedule = PollSchedule::new(S(2), S(30));
        for (i, (status, expires_at, now, expected)) in rows.into_iter().enumerate() {
            assert_eq!(schedule.next(&session(status, expires_at), at(now)), expected, "row {i}");
        }
        for status in ["COMPLETED", "CANCELLED", "DISABLED", "TIMEOUT"] {
            let mut schedule = PollSchedule::new(S(2), S(30));
            let step = schedule.next(&session(Some(status), expires), at(500));
            assert_eq!(step, PollStep::Final(SessionStatus::from(status)), "final wins over expiry");
        }
        // No status and no expiry: keep polling, backing off.
        let mut schedule = PollSchedule::new(S(1), S(3));
        let steps: Vec<PollStep> = (0..4).map(|i| schedule.next(&session(None, None), at(i))).collect();
        assert_eq!(steps, [PollStep::Wait(S(1)), PollStep::Wait(S(2)), PollStep::Wait(S(3)), PollStep::Wait(S(3))]);
        // A malformed expires_at is ignored, not a crash.
        let mut schedule = PollSchedule::new(S(1), S(3));
        assert_eq!(schedule.next(&session(Some("WAITING"), Some("soon")), at(0)), PollStep::Wait(S(1)));
    }
}
