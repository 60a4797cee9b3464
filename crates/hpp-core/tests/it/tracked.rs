//! The tracking rules (`TrackedSession`): exactly one "became final" per session over arbitrary
//! interleavings of callbacks, reads, failed reads and the passing of time, duplicated, reordered,
//! late, with crashes between steps (a step computed but never committed).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::tracking::{FinalStatus, ReadFailure, TrackedSession, TrackingPolicy};
use hpp_core::{Session, SessionStatus};
use proptest::prelude::*;

const START: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn rfc3339(secs: u64) -> String {
    hpp_core::__private::time::format_rfc3339(at(secs))
}

fn session(status: &str, updated_at: Option<u64>) -> Session {
    let mut session = Session::default();
    session.status = Some(SessionStatus::from(status));
    session.updated_at = updated_at.map(rfc3339);
    session
}

/// One thing learned of the session (a callback and a read are the same to the rules).
#[derive(Debug, Clone)]
enum Step {
    Observed { status: &'static str, updated_at: Option<u64> },
    Failed(ReadFailure),
    Tick,
}

const STATUSES: &[&str] = &[
    "WAITING",
    "BACK",
    "IN_PROGRESS",
    "MANUAL_ID_CHECK",
    "FAILED",
    "ERROR",
    "SOMETHING_NEW",
    "COMPLETED",
    "CANCELLED",
    "DISABLED",
    "TIMEOUT",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (proptest::sample::select(STATUSES), proptest::option::of(0u64..100))
            .prop_map(|(status, updated_at)| Step::Observed { status, updated_at: updated_at.map(|u| START + u) }),
        1 => Just(Step::Failed(ReadFailure::NotFound)),
        1 => Just(Step::Failed(ReadFailure::Transient)),
        1 => proptest::option::of(0u64..100_000).prop_map(|s| Step::Failed(ReadFailure::RateLimited(s.map(Duration::from_secs)))),
        1 => Just(Step::Tick),
    ]
}

fn apply(tracked: &mut TrackedSession, step: &Step, now: SystemTime, policy: &TrackingPolicy) -> Option<FinalStatus> {
    match step {
        Step::Observed { status, updated_at } => tracked.observe(&session(status, *updated_at), now, policy),
        Step::Failed(failure) => tracked.read_failed(*failure, now, policy),
        Step::Tick => tracked.check_expiry(now, policy),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Over any interleaving (times jump forwards and backwards, past expiry and give-up), with
    /// any step lost to a crash before it was committed: at most one "became final"; exactly one
    /// once a final status was committed; what was emitted is what the store keeps; a final state
    /// never changes again; a non-final status is never replaced by an older one; a read is due
    /// exactly while the session is not final, and never later than the read due before expiry.
    #[test]
    fn became_final_exactly_once(
        steps in proptest::collection::vec((step(), 0u64..400_000, any::<bool>()), 0..40),
        lifetime in 0u64..200_000,
        known_expiry in any::<bool>(),
    ) {
        let policy = TrackingPolicy::default();
        let now0 = at(START);
        let expires = known_expiry.then(|| at(START + lifetime));
        let mut committed = TrackedSession::new("s1", expires, now0, &policy);
        let expires_at = committed.expires_at();
        let mut emitted: Vec<FinalStatus> = Vec::new();
        let mut final_committed: Option<TrackedSession> = None;
        let mut newest_non_final: Option<u64> = None;
        for (step, offset, crash) in &steps {
            let now = at(START + offset);
            // Load, apply, and commit the new state together with the hand-off, or neither.
            let mut working = committed.clone();
            let became = apply(&mut working, step, now, &policy);
            if *crash {
                continue;
            }
            let before_step = committed.clone();
            // A round trip through a store's serialized form changes nothing.
            let stored = serde_json::to_string(&working).unwrap();
            let loaded: TrackedSession = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(&loaded, &working);
            committed = loaded;
            if let Some(status) = became {
                emitted.push(status);
                prop_assert_eq!(committed.final_status(), Some(status), "what was handed off is what is kept");
                final_committed = Some(committed.clone());
            }
            if let Some(at_final) = &final_committed {
                prop_assert_eq!(&committed, at_final, "a final state never changes");
            }
            if let Step::Observed { status, updated_at } = step {
                let observed = SessionStatus::from(*status);
                match FinalStatus::of(&observed) {
                    Some(final_status) => {
                        prop_assert!(committed.final_status().is_some(), "a committed final status ends tracking");
                        if let Some(became) = became {
                            prop_assert_eq!(became, final_status, "the status observed is the one emitted");
                        }
                    }
                    None if before_step.final_status().is_none() => match (updated_at, newest_non_final) {
                        (Some(u), Some(n)) if *u < n => {
                            prop_assert_eq!(committed.status(), before_step.status(), "an older status is ignored");
                        }
                        _ => {
                            prop_assert_eq!(committed.status(), Some(&observed));
                            if let Some(u) = updated_at {
                                newest_non_final = Some(newest_non_final.map_or(*u, |n| n.max(*u)));
                            }
                        }
                    },
                    None => {}
                }
            }
            prop_assert_eq!(committed.next_read_at().is_none(), committed.final_status().is_some());
            // (A tick only checks for giving up; the schedule is set by what was learned.)
            if let (Some(due), false) = (committed.next_read_at(), matches!(step, Step::Tick)) {
                let before = expires_at - policy.read_before_expiry;
                if now < before {
                    prop_assert!(due <= before, "no read is skipped past the last one that can see a payment");
                }
            }
        }
        prop_assert!(emitted.len() <= 1, "emitted {:?}", emitted);
        prop_assert_eq!(emitted.len(), usize::from(committed.final_status().is_some()));
    }

    /// The same callbacks delivered in any order, any number of times, to a session with one
    /// final status: the same single final status is emitted, and it is the session's own.
    #[test]
    fn order_and_duplicates_do_not_change_the_outcome(
        history in proptest::collection::vec(proptest::sample::select(&STATUSES[..7]), 0..6),
        final_status in proptest::sample::select(&STATUSES[7..]),
        deliveries in proptest::collection::vec((any::<proptest::sample::Index>(), 0u64..3600), 1..30),
    ) {
        let policy = TrackingPolicy::default();
        // The session's real history: non-final statuses, then its final one, a second apart.
        let mut events: Vec<Session> =
            history.iter().enumerate().map(|(i, s)| session(s, Some(START + i as u64))).collect();
        events.push(session(final_status, Some(START + history.len() as u64)));
        let mut tracked = TrackedSession::new("s1", Some(at(START + 86_400)), at(START), &policy);
        let mut emitted = Vec::new();
        let mut delivered_final = false;
        for (index, offset) in &deliveries {
            let event = index.get(&events);
            delivered_final |= event.status.as_ref().is_some_and(SessionStatus::is_final);
            emitted.extend(tracked.observe(event, at(START + offset), &policy));
        }
        let expected = FinalStatus::of(&SessionStatus::from(final_status)).unwrap();
        prop_assert_eq!(emitted, if delivered_final { vec![expected] } else { vec![] });
    }

    /// Any times, including the far ends of what `SystemTime` holds here, never panic.
    #[test]
    fn extreme_times_never_panic(secs in any::<i64>(), lifetime in any::<u64>(), step in step()) {
        let now = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        };
        let Some(now) = now else { return Ok(()) };
        let policy = TrackingPolicy::default();
        let expires = now.checked_add(Duration::from_secs(lifetime));
        let mut tracked = TrackedSession::new("s1", expires, now, &policy);
        apply(&mut tracked, &step, now, &policy);
        let later = now.checked_add(Duration::from_secs(lifetime)).unwrap_or(now);
        apply(&mut tracked, &step, later, &policy);
    }
}

#[test]
fn reads_follow_the_schedule_and_end_at_expiry() {
    const S: fn(u64) -> Duration = Duration::from_secs;
    let policy = TrackingPolicy::default();
    let expires = START + 3600;
    let mut tracked = TrackedSession::new("s1", Some(at(expires)), at(START), &policy);
    assert_eq!(tracked.next_read_at(), Some(at(START + 30)), "the first read after 30 s");
    // The same status doubles the interval up to 10 minutes.
    let mut now = START + 30;
    let mut waits = Vec::new();
    for _ in 0..7 {
        assert_eq!(tracked.observe(&session("WAITING", None), at(now), &policy), None);
        let next = tracked.next_read_at().unwrap().duration_since(at(now)).unwrap();
        waits.push(next.as_secs());
        now += next.as_secs();
    }
    assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600], "a new status starts at 30 s, then doubles to 600");
    // A change of status starts again from 30 s.
    tracked.observe(&session("IN_PROGRESS", None), at(now), &policy);
    assert_eq!(tracked.next_read_at(), Some(at(now + 30)));
    // A 429 waits at least its Retry-After.
    tracked.read_failed(ReadFailure::RateLimited(Some(S(900))), at(now), &policy);
    assert_eq!(tracked.next_read_at(), Some(at(now + 900)));
    // Never past the read 30 s before expiry, then the one 30 s after.
    tracked.observe(&session("IN_PROGRESS", None), at(expires - 100), &policy);
    assert_eq!(tracked.next_read_at(), Some(at(expires - 30)));
    tracked.observe(&session("IN_PROGRESS", None), at(expires - 30), &policy);
    assert_eq!(tracked.next_read_at(), Some(at(expires + 30)));
    // A 404 before expiry is retried; after it, the session has expired.
    let mut early = tracked.clone();
    assert_eq!(early.read_failed(ReadFailure::NotFound, at(expires - 10), &policy), None);
    assert_eq!(tracked.read_failed(ReadFailure::NotFound, at(expires + 30), &policy), Some(FinalStatus::Expired));
    assert_eq!(tracked.next_read_at(), None);
}

#[test]
fn a_late_non_final_callback_never_ends_a_session_but_giving_up_does() {
    let policy = TrackingPolicy::default();
    let expires = START + 60;
    let mut tracked = TrackedSession::new("s1", Some(at(expires)), at(START), &policy);
    assert_eq!(tracked.observe(&session("IN_PROGRESS", None), at(expires + 600), &policy), None);
    assert_eq!(tracked.read_failed(ReadFailure::Transient, at(expires + 601), &policy), None);
    assert_eq!(tracked.check_expiry(at(expires + 3599), &policy), None);
    assert_eq!(tracked.check_expiry(at(expires + 3600), &policy), Some(FinalStatus::Expired));
    assert_eq!(tracked.check_expiry(at(expires + 3601), &policy), None, "once");
    assert_eq!(tracked.observe(&session("COMPLETED", None), at(expires + 3602), &policy), None, "final is absorbing");
    assert_eq!(tracked.final_status(), Some(FinalStatus::Expired));
}

#[test]
fn an_older_status_never_replaces_a_newer_one() {
    let policy = TrackingPolicy::default();
    let mut tracked = TrackedSession::new("s1", None, at(START), &policy);
    tracked.observe(&session("IN_PROGRESS", Some(START + 20)), at(START + 21), &policy);
    tracked.observe(&session("WAITING", Some(START + 10)), at(START + 22), &policy);
    assert_eq!(tracked.status(), Some(&SessionStatus::InProgress));
    tracked.observe(&session("BACK", Some(START + 30)), at(START + 31), &policy);
    assert_eq!(tracked.status(), Some(&SessionStatus::Back));
    // A final status is taken whatever its updated_at: the service never leaves one.
    assert_eq!(
        tracked.observe(&session("COMPLETED", Some(START + 5)), at(START + 32), &policy),
        Some(FinalStatus::Completed)
    );
    assert_eq!(tracked.expires_at(), at(START + 47 * 3600), "the assumed lifetime when none was given");
}

#[test]
fn final_statuses_by_name() {
    for status in FinalStatus::ALL {
        assert_eq!(FinalStatus::from_name(status.as_str()), Some(status));
        assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{status}\""));
    }
    assert_eq!(FinalStatus::from_name("WAITING"), None);
    assert!(FinalStatus::Completed.is_paid() && !FinalStatus::Expired.is_paid());
    let finals: Vec<FinalStatus> =
        SessionStatus::KNOWN.iter().filter_map(|s| FinalStatus::of(&SessionStatus::from(*s))).collect();
    assert_eq!(finals, [FinalStatus::Completed, FinalStatus::Cancelled, FinalStatus::Disabled, FinalStatus::Timeout]);
}
