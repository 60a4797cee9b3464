//! The tracking rules (`TrackedSession`): exactly one "became final" per session over arbitrary
//! interleavings of callbacks, reads, failed reads and the passing of time, duplicated, reordered,
//! late, with crashes between steps (a step computed but never committed).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::tracking::{FinalStatus, TrackedSession, TrackingPolicy};
use hpp_core::{Session, SessionStatus};
use proptest::prelude::*;

/// The final status a session status stands for (by name: the tracker's own mapping is private).
fn final_status_of(status: &SessionStatus) -> Option<FinalStatus> {
    Some(status).filter(|s| s.is_final()).and_then(|s| serde_json::from_value(s.as_str().into()).ok())
}

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

/// A read of a session that failed with `status` (and `Retry-After: retry_after` seconds).
fn read_error(status: u16, retry_after: Option<u64>) -> hpp_core::Error {
    use hpp_core::{Operation, ReadSession};
    let mut response = http::Response::builder().status(status);
    if let Some(secs) = retry_after {
        response = response.header("retry-after", secs);
    }
    ReadSession::new("s1").parse(response.body(Vec::new()).unwrap()).unwrap_err()
}
/// A 404: the session has expired or was never there.
fn not_found() -> hpp_core::Error {
    read_error(404, None)
}
/// A failure that may pass (a 503).
fn transient() -> hpp_core::Error {
    read_error(503, None)
}

/// One thing learned of the session (a callback and a read are the same to the rules).
#[derive(Debug, Clone)]
enum Step {
    Observed {
        status: &'static str,
        updated_at: Option<u64>,
    },
    /// A failed read: its status and `Retry-After`.
    Failed(u16, Option<u64>),
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
        1 => Just(Step::Failed(404, None)),
        1 => Just(Step::Failed(503, None)),
        1 => proptest::option::of(0u64..100_000).prop_map(|s| Step::Failed(429, s)),
        1 => Just(Step::Tick),
    ]
}

fn apply(tracked: &mut TrackedSession, step: &Step, now: SystemTime, policy: &TrackingPolicy) -> Option<FinalStatus> {
    match step {
        Step::Observed { status, updated_at } => tracked.observe(&session(status, *updated_at), now, policy),
        Step::Failed(status, retry_after) => tracked.read_failed(&read_error(*status, *retry_after), now, policy),
        Step::Tick => tracked.check_expiry(now, policy),
    }
}

/// What becomes of a step: lost to a crash before its commit, or committed with the app's
/// hand-off (when one is due) succeeding or failing.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Crash,
    AppOk,
    AppFails,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![1 => Just(Fate::Crash), 3 => Just(Fate::AppOk), 1 => Just(Fate::AppFails)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Over any interleaving (times jump forwards and backwards, past expiry and give-up), with
    /// any step lost to a crash before it was committed and any hand-off failing: the app's work
    /// is committed at most once; exactly once when the session is handed off; a final status,
    /// once learned and committed, never changes; a non-final status is never replaced by an
    /// older one; something is due exactly until the hand-off, and no read is scheduled past the
    /// last one that can see a payment.
    #[test]
    fn handed_off_exactly_once(
        steps in proptest::collection::vec((step(), 0u64..400_000, fate()), 0..40),
        lifetime in 0u64..200_000,
        known_expiry in any::<bool>(),
    ) {
        let policy = TrackingPolicy::default();
        let now0 = at(START);
        let expires = known_expiry.then(|| at(START + lifetime));
        let mut committed = TrackedSession::new("s1", expires, now0, &policy);
        let expires_at = committed.expires_at();
        let mut app_table: Vec<FinalStatus> = Vec::new();
        let mut newest_non_final: Option<u64> = None;
        for (step, offset, fate) in &steps {
            let now = at(START + offset);
            // Load, apply, hand off when due; commit the state with the app's work, or neither.
            let mut working = committed.clone();
            let due = apply(&mut working, step, now, &policy);
            if let Fate::Crash = fate {
                continue;
            }
            match (due, fate) {
                (Some(status), Fate::AppOk) => {
                    working.handed_off();
                    app_table.push(status);
                }
                (Some(_), _) => working.hand_off_failed(now, &policy),
                (None, _) => {}
            }
            let before_step = committed.clone();
            // A round trip through a store's serialized form changes nothing.
            let stored = serde_json::to_string(&working).unwrap();
            let loaded: TrackedSession = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(&loaded, &working);
            committed = loaded;
            if let Some(kept) = before_step.final_status() {
                prop_assert_eq!(committed.final_status(), Some(kept), "a final status never changes");
                prop_assert_eq!(committed.status(), before_step.status());
            }
            if let Some(status) = due {
                prop_assert_eq!(committed.final_status(), Some(status), "the status handed off is the one kept");
            }
            if let Step::Observed { status, updated_at } = step {
                let observed = SessionStatus::from(*status);
                match final_status_of(&observed) {
                    Some(final_status) => {
                        prop_assert!(committed.final_status().is_some(), "a committed final status ends tracking");
                        if before_step.final_status().is_none() {
                            prop_assert_eq!(committed.final_status(), Some(final_status));
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
            prop_assert_eq!(committed.next_due_at().is_none(), committed.is_handed_off());
            // (A tick only checks for giving up; the schedule is set by what was learned.)
            if let (Some(due), false, None) = (committed.next_due_at(), matches!(step, Step::Tick), committed.final_status()) {
                let before = expires_at - policy.read_before_expiry;
                if now < before {
                    prop_assert!(due <= before, "no read is skipped past the last one that can see a payment");
                }
            }
        }
        prop_assert!(app_table.len() <= 1, "the app committed {:?}", app_table);
        prop_assert_eq!(app_table.len(), usize::from(committed.is_handed_off()));
        prop_assert_eq!(app_table.first().copied(), committed.final_status().filter(|_| committed.is_handed_off()));
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
            if let Some(status) = tracked.observe(event, at(START + offset), &policy) {
                emitted.push(status);
                tracked.handed_off();
            }
        }
        let expected = final_status_of(&SessionStatus::from(final_status)).unwrap();
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
    let policy = TrackingPolicy::default();
    let expires = START + 3600;
    let mut tracked = TrackedSession::new("s1", Some(at(expires)), at(START), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(START + 30)), "the first read after 30 s");
    // The same status doubles the interval up to 10 minutes.
    let mut now = START + 30;
    let mut waits = Vec::new();
    for _ in 0..7 {
        assert_eq!(tracked.observe(&session("WAITING", None), at(now), &policy), None);
        let next = tracked.next_due_at().unwrap().duration_since(at(now)).unwrap();
        waits.push(next.as_secs());
        now += next.as_secs();
    }
    assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600], "a new status starts at 30 s, then doubles to 600");
    // A change of status starts again from 30 s.
    tracked.observe(&session("IN_PROGRESS", None), at(now), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(now + 30)));
    // A 429 waits at least its Retry-After.
    tracked.read_failed(&read_error(429, Some(900)), at(now), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(now + 900)));
    // Never past the read 30 s before expiry, then the one 30 s after.
    tracked.observe(&session("IN_PROGRESS", None), at(expires - 100), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(expires - 30)));
    tracked.observe(&session("IN_PROGRESS", None), at(expires - 30), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(expires + 30)));
    // A 404 before expiry is retried; after it, the session has expired.
    let mut early = tracked.clone();
    assert_eq!(early.read_failed(&not_found(), at(expires - 10), &policy), None);
    assert_eq!(tracked.read_failed(&not_found(), at(expires + 30), &policy), Some(FinalStatus::Expired));
    assert_eq!(tracked.next_due_at(), Some(at(expires + 30)), "the hand-off is due");
    tracked.handed_off();
    assert_eq!(tracked.next_due_at(), None);
}

#[test]
fn a_late_non_final_callback_never_ends_a_session_but_giving_up_does() {
    let policy = TrackingPolicy::default();
    let expires = START + 60;
    let mut tracked = TrackedSession::new("s1", Some(at(expires)), at(START), &policy);
    assert_eq!(tracked.observe(&session("IN_PROGRESS", None), at(expires + 600), &policy), None);
    assert_eq!(tracked.read_failed(&transient(), at(expires + 601), &policy), None);
    assert_eq!(tracked.check_expiry(at(expires + 3599), &policy), None);
    assert_eq!(tracked.check_expiry(at(expires + 3600), &policy), Some(FinalStatus::Expired));
    tracked.hand_off_failed(at(expires + 3600), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(expires + 3630)), "a failed hand-off is due again, backing off");
    assert_eq!(tracked.check_expiry(at(expires + 3601), &policy), Some(FinalStatus::Expired), "until handed off");
    tracked.handed_off();
    assert_eq!(tracked.check_expiry(at(expires + 3602), &policy), None, "once");
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
        assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{}\"", status.as_str()));
        assert_eq!(status.to_string(), status.as_str());
    }
    let finals: Vec<FinalStatus> =
        SessionStatus::KNOWN.iter().filter_map(|s| final_status_of(&SessionStatus::from(*s))).collect();
    assert_eq!(finals, [FinalStatus::Completed, FinalStatus::Cancelled, FinalStatus::Disabled, FinalStatus::Timeout]);
}

mod store {
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use hpp_core::callback::StatusCallback;
    use hpp_core::tracking::{
        Applied, FinalStatus, Finished, HandOff, Input, MemoryStore, TrackingPolicy, TrackingStore,
    };
    use hpp_runtime::block_on;
    use proptest::prelude::*;

    use super::{START, at, session};

    /// The app: its own table of shipped orders, and a switch that makes its hand-off fail.
    #[derive(Default)]
    struct App {
        shipped: Mutex<HashMap<String, Vec<FinalStatus>>>,
        failing: AtomicBool,
    }

    impl HandOff<MemoryStore> for App {
        async fn hand_off(
            &self,
            _tx: &(),
            finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            if self.failing.load(Ordering::SeqCst) {
                return Err("the app's database is down".into());
            }
            self.shipped.lock().unwrap().entry(finished.session_id.clone()).or_default().push(finished.status);
            Ok(())
        }
    }

    fn callback(event_id: &str, session_id: &str, status: &str, updated_at: u64) -> StatusCallback {
        let mut body = session(status, Some(updated_at));
        body.session_id = Some(session_id.to_owned());
        StatusCallback::parse(serde_json::json!({ "event_id": event_id, "session": body }).to_string().as_bytes())
            .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Delivers event `n` of session `s` (events are the session's history, in order).
        Deliver { s: usize, n: usize },

        /// The app's database goes down or comes back.
        AppFailing(bool),
        /// Time passes, with a poller reading each session when it is due (the service's truth
        /// at that time: its last status, or 404 once expired).
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0usize..4, 0usize..4).prop_map(|(s, n)| Op::Deliver { s, n }),
            1 => any::<bool>().prop_map(Op::AppFailing),
            2 => (1u64..200_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Four sessions, each with a history ending in a final status or in nothing (left to
        /// expire); callbacks delivered in any order, duplicated or never; a poller reading due
        /// sessions; the app failing at times. The app's own table holds each session's final
        /// status at most once, and exactly once for every session the store calls final.
        #[test]
        fn the_app_sees_each_final_status_once(
            endings in proptest::collection::vec(proptest::option::of(proptest::sample::select(&["COMPLETED", "CANCELLED", "DISABLED", "TIMEOUT"][..])), 4),
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let policy = TrackingPolicy::default();
            let store = MemoryStore::new(policy.clone());
            let app = App::default();
            let lifetime = 100_000;
            let histories: Vec<Vec<&str>> = endings
                .iter()
                .map(|end| {
                    let mut h = vec!["IN_PROGRESS", "BACK", "IN_PROGRESS"];
                    h.extend(end);
                    h
                })
                .collect();
            let mut now = START;
            for s in 0..4 {
                let id = format!("s{s}");
                let input = Input::Track { session_id: &id, expires_at: Some(at(START + lifetime)) };
                prop_assert_eq!(block_on(store.apply(input, at(now), &app)).unwrap(), Applied::Done { handed_off: None });
            }
            for op in &ops {
                match op {
                    Op::Deliver { s, n } => {
                        let Some(status) = histories[*s].get(*n) else { continue };
                        let event = callback(&format!("e{s}-{n}"), &format!("s{s}"), status, START + *n as u64);
                        let _ = block_on(store.apply(Input::Callback(&event), at(now), &app));
                    }
                    Op::AppFailing(failing) => app.failing.store(*failing, Ordering::SeqCst),
                    Op::Advance(secs) => {
                        let target = now + secs;
                        loop {
                            poll(&store, &app, &histories, now, lifetime)?;
                            let next = (0..4)
                                .filter_map(|s| store.get(&format!("s{s}"))?.next_due_at())
                                .map(|t| t.duration_since(at(0)).unwrap().as_secs())
                                .filter(|t| *t > now)
                                .min();
                            match next {
                                Some(next) if next <= target => now = next,
                                _ => break,
                            }
                        }
                        now = target;
                    }
                }
            }
            let shipped = app.shipped.lock().unwrap();
            for (s, ending) in endings.iter().enumerate() {
                let id = format!("s{s}");
                let handed: &[FinalStatus] = shipped.get(&id).map_or(&[], Vec::as_slice);
                prop_assert!(handed.len() <= 1, "{id} handed off {handed:?}");
                let state = store.get(&id).unwrap();
                let stored = state.final_status().filter(|_| state.is_handed_off());
                prop_assert_eq!(handed.first().copied(), stored, "what the app has is what the store handed off");
                let stored = state.final_status();
                if let (Some(status), Some(ending)) = (stored, ending) {
                    // Never an early "expired" for a session that was paid or ended otherwise.
                    prop_assert_eq!(status, serde_json::from_value::<FinalStatus>((*ending).into()).unwrap(), "{} ended {}", id, ending);
                }
            }
        }
    }

    /// A poller's round at `now`: claims the due sessions and applies a read of each.
    fn poll(
        store: &MemoryStore,
        app: &App,
        histories: &[Vec<&str>],
        now: u64,
        lifetime: u64,
    ) -> Result<(), TestCaseError> {
        let claimed = block_on(store.claim_due("poller", 10, Duration::from_secs(60), at(now), app));
        let Ok(claimed) = claimed else { return Ok(()) };
        let gone_error = super::not_found();
        for id in claimed {
            let s: usize = id[1..].parse().unwrap();
            let result = if now >= START + lifetime {
                Err(&gone_error)
            } else {
                Ok(session(histories[s].last().unwrap(), Some(START + 3)))
            };
            let input = Input::Read { session_id: &id, result: result.as_ref().map_err(|e| *e) };
            let _ = block_on(store.apply(input, at(now), app));
        }
        Ok(())
    }

    /// A hand-off that waits until the test opens its gate.
    struct Gated<'a>(&'a AtomicBool);

    impl HandOff<MemoryStore> for Gated<'_> {
        async fn hand_off(
            &self,
            _tx: &(),
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            std::future::poll_fn(|_| if self.0.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }).await;
            Ok(())
        }
    }

    #[test]
    fn a_redelivery_during_a_slow_hand_off_is_busy_and_a_dropped_one_commits_nothing() {
        let store = MemoryStore::default();
        let open = AtomicBool::new(false);
        let gated = Gated(&open);
        let paid = callback("e1", "s1", "COMPLETED", START);
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut slow = pin!(store.apply(Input::Callback(&paid), at(START), &gated));
            assert!(slow.as_mut().poll(&mut cx).is_pending(), "the hand-off is under way");
            let again = block_on(store.apply(Input::Callback(&paid), at(START + 1), &App::default())).unwrap();
            assert_eq!(again, Applied::Busy, "neither run twice nor answered as done");
            // The slow one is dropped (the receiver's deadline passed): nothing was committed.
        }
        assert_eq!(store.get("s1").and_then(|s| s.final_status()), None);
        let app = App::default();
        let retried = block_on(store.apply(Input::Callback(&paid), at(START + 2), &app)).unwrap();
        assert_eq!(retried, Applied::Done { handed_off: Some(FinalStatus::Completed) }, "the retry is not lost");
        let duplicate = block_on(store.apply(Input::Callback(&paid), at(START + 3), &app)).unwrap();
        assert_eq!(duplicate, Applied::Duplicate);
        assert_eq!(app.shipped.lock().unwrap()["s1"], [FinalStatus::Completed]);
        assert_eq!(block_on(store.pending()).unwrap(), 0);
        let mut slow = pin!(store.apply(Input::Callback(&paid), at(START), &gated));
        open.store(true, Ordering::SeqCst);
        assert!(matches!(slow.as_mut().poll(&mut cx), Poll::Ready(Ok(Applied::Duplicate))));
    }

    #[test]
    fn pending_counts_work_outstanding_and_only_handed_off_sessions_are_forgotten() {
        let store = MemoryStore::default();
        let app = App::default();
        app.failing.store(true, Ordering::SeqCst);
        let paid = callback("e1", "s1", "COMPLETED", START);
        assert!(block_on(store.apply(Input::Callback(&paid), at(START), &app)).is_err());
        assert_eq!(block_on(store.pending()).unwrap(), 1, "final, not handed off: still work to do");
        assert_eq!(store.forget_handed_off(), 0, "a payment not handed off is never forgotten");
        app.failing.store(false, Ordering::SeqCst);
        block_on(store.apply(Input::Callback(&paid), at(START + 1), &app)).unwrap();
        assert_eq!(block_on(store.pending()).unwrap(), 0);
        assert_eq!(store.forget_handed_off(), 1);
        assert!(store.get("s1").is_none());
    }

    #[test]
    fn claims_are_leased_and_unknown_sessions_refused() {
        let store = MemoryStore::default();
        let app = App::default();
        let track = Input::Track { session_id: "s1", expires_at: None };
        block_on(store.apply(track, at(START), &app)).unwrap();
        let claim = |secs| block_on(store.claim_due("p", 10, Duration::from_secs(60), at(secs), &app)).unwrap();
        assert!(claim(START + 29).is_empty(), "not due before the first read");
        assert_eq!(claim(START + 30), ["s1"]);
        assert!(claim(START + 31).is_empty(), "leased");
        assert_eq!(claim(START + 90), ["s1"], "a lapsed lease is claimed again");
        let (transient_error, gone_error) = (super::transient(), super::not_found());
        let read = Input::Read { session_id: "s1", result: Err(&transient_error) };
        block_on(store.apply(read, at(START + 91), &app)).unwrap();
        assert!(claim(START + 92).is_empty(), "backed off");
        let unknown = Input::Read { session_id: "nope", result: Err(&gone_error) };
        assert_eq!(block_on(store.apply(unknown, at(START), &app)).unwrap(), Applied::Unknown);
        // Past giving up, a claim ends the session instead of returning it.
        let gave_up = START + 47 * 3600 + 3600;
        assert!(claim(gave_up).is_empty());
        assert_eq!(app.shipped.lock().unwrap()["s1"], [FinalStatus::Expired]);
    }
}

mod events {
    use std::sync::Mutex;

    use hpp_core::callback::StatusCallback;
    use hpp_core::tracking::{Applied, Finished, HandOff, Input, MemoryStore, StoreError, TrackingStore};
    use hpp_runtime::block_on;

    /// A tool printing every event once: refuses while `refusing` is set.
    #[derive(Default)]
    struct Printer {
        printed: Mutex<Vec<String>>,
        refusing: Mutex<bool>,
    }

    impl HandOff<MemoryStore> for Printer {
        async fn hand_off(
            &self,
            _tx: &(),
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Ok(())
        }

        async fn on_event(
            &self,
            _tx: &(),
            callback: &StatusCallback,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            if *self.refusing.lock().unwrap() {
                return Err("the app answered 500".into());
            }
            self.printed.lock().unwrap().push(callback.event_id.clone());
            Ok(())
        }
    }

    fn event(id: &str, status: &str) -> StatusCallback {
        let body = format!(r#"{{"event_id":"{id}","session":{{"session_id":"s1","status":"{status}"}}}}"#);
        StatusCallback::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn every_event_is_seen_once_and_a_refused_one_again_on_its_retry() {
        let store = MemoryStore::default();
        let printer = Printer::default();
        let now = super::at(super::START);
        let apply = |e: &StatusCallback| block_on(store.apply(Input::Callback(e), now, &printer));
        assert_eq!(apply(&event("e1", "IN_PROGRESS")).unwrap(), Applied::Done { handed_off: None });
        assert_eq!(apply(&event("e1", "IN_PROGRESS")).unwrap(), Applied::Duplicate);
        *printer.refusing.lock().unwrap() = true;
        assert!(matches!(apply(&event("e2", "BACK")), Err(StoreError::HandOff(_))));
        *printer.refusing.lock().unwrap() = false;
        assert_eq!(apply(&event("e2", "BACK")).unwrap(), Applied::Done { handed_off: None }, "not marked done");
        assert_eq!(apply(&event("e2", "BACK")).unwrap(), Applied::Duplicate);
        assert_eq!(*printer.printed.lock().unwrap(), ["e1", "e2"]);
    }
}

#[test]
fn a_tracked_session_says_what_it_is_and_counts_failures() {
    let policy = TrackingPolicy::default();
    let mut tracked = TrackedSession::new("9cbc9884-1fdb", None, at(START), &policy);
    assert_eq!(tracked.session_id(), "9cbc9884-1fdb");
    assert_eq!(tracked.failures(), 0);
    tracked.read_failed(&transient(), at(START + 30), &policy);
    tracked.read_failed(&read_error(429, None), at(START + 90), &policy);
    assert_eq!(tracked.failures(), 2);
    tracked.observe(&session("WAITING", None), at(START + 200), &policy);
    assert_eq!(tracked.failures(), 0, "a read that answered ends the run of failures");
    assert!(!tracked.is_due(at(START + 200)) && tracked.is_due(at(START + 10_000)));
}

#[test]
fn transitions_carry_the_session_except_for_an_expiry_and_refuse_what_has_no_id() {
    use hpp_core::tracking::{Input, Transition};
    let policy = TrackingPolicy::default();
    let mut paid = session("COMPLETED", Some(START));
    paid.authorization_token = Some("planted-token-3f".into());
    paid.session_id = Some("s1".into());
    let callback = hpp_core::callback::StatusCallback::parse(
        serde_json::json!({ "event_id": "e1", "session": paid }).to_string().as_bytes(),
    )
    .unwrap();
    let step = Transition::new(None, &Input::Callback(&callback), at(START), &policy).unwrap();
    let finished = step.finished.unwrap();
    assert_eq!(finished.session.as_ref().and_then(|s| s.authorization_token.as_deref()), Some("planted-token-3f"));
    let shown = format!("{finished:?}");
    assert!(shown.contains("s1") && shown.contains("Completed"), "{shown}");
    assert!(!shown.contains("planted-token-3f"), "Debug masks the token: {shown}");

    let tracked = TrackedSession::new("s2", Some(at(START + 60)), at(START), &policy);
    let gone_error = not_found();
    let gone = Input::Read { session_id: "s2", result: Err(&gone_error) };
    let expired = Transition::new(Some(&tracked), &gone, at(START + 90), &policy).unwrap().finished.unwrap();
    assert_eq!((expired.status, expired.session), (FinalStatus::Expired, None));
    let waiting = session("WAITING", None);
    let read = Input::Read { session_id: "s2", result: Ok(&waiting) };
    let given_up = Transition::new(Some(&tracked), &Input::Tick { session_id: "s2" }, at(START + 60 + 3600), &policy);
    assert_eq!(given_up.unwrap().finished.map(|f| (f.status, f.session)), Some((FinalStatus::Expired, None)));
    assert!(Transition::new(Some(&tracked), &read, at(START + 1), &policy).unwrap().finished.is_none());

    let anonymous =
        hpp_core::callback::StatusCallback::parse(br#"{"event_id":"e3","session":{"status":"COMPLETED"}}"#).unwrap();
    assert!(
        Transition::new(None, &Input::Callback(&anonymous), at(START), &policy).is_none(),
        "no session id: nothing"
    );
    assert!(Transition::new(None, &read, at(START), &policy).is_none(), "a read of an untracked session: nothing");
}

#[test]
fn times_before_1970_and_the_store_policy_survive() {
    let policy = TrackingPolicy::default();
    let before_epoch = UNIX_EPOCH - Duration::from_secs(86_400);
    let tracked = TrackedSession::new("s1", Some(before_epoch), at(START), &policy);
    assert_eq!(tracked.expires_at(), before_epoch);
    let mut custom = TrackingPolicy::default();
    custom.first_read = Duration::from_secs(5);
    assert_eq!(hpp_core::tracking::MemoryStore::new(custom.clone()).policy(), &custom);
}
