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
    /// A callback (its final status waits for a read, or is a late payment past expiry).
    Called {
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
        2 => (proptest::sample::select(STATUSES), proptest::option::of(0u64..100))
            .prop_map(|(status, updated_at)| Step::Called { status, updated_at: updated_at.map(|u| START + u) }),
        1 => Just(Step::Failed(404, None)),
        1 => Just(Step::Failed(503, None)),
        1 => proptest::option::of(0u64..100_000).prop_map(|s| Step::Failed(429, s)),
        1 => Just(Step::Tick),
    ]
}

fn apply(tracked: &mut TrackedSession, step: &Step, now: SystemTime, policy: &TrackingPolicy) -> Option<FinalStatus> {
    match step {
        Step::Observed { status, updated_at } => tracked.observe(&session(status, *updated_at), now, policy),
        Step::Called { status, updated_at } => tracked.observe_callback(&session(status, *updated_at), now, policy),
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
                (Some(_), _) => working.hand_off_failed("test", now, &policy),
                (None, _) => {}
            }
            let before_step = committed.clone();
            // A round trip through a store's serialized form changes nothing.
            let stored = serde_json::to_string(&working).unwrap();
            let loaded: TrackedSession = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(&loaded, &working);
            committed = loaded;
            // The one change of a final status: an expiry followed by a payment's callback.
            let late = before_step.final_status() == Some(FinalStatus::Expired)
                && matches!(step, Step::Called { status: "COMPLETED", .. });
            if let Some(kept) = before_step.final_status().filter(|_| !late) {
                prop_assert_eq!(committed.final_status(), Some(kept), "a final status never changes");
                prop_assert_eq!(committed.status(), before_step.status());
            }
            if let Some(status) = due {
                prop_assert_eq!(committed.final_status(), Some(status), "the status handed off is the one kept");
            }
            let learned = match step {
                Step::Observed { status, updated_at } => Some((status, updated_at, true)),
                Step::Called { status, updated_at } => Some((status, updated_at, false)),
                _ => None,
            };
            if let Some((status, updated_at, from_read)) = learned {
                let observed = SessionStatus::from(*status);
                match final_status_of(&observed) {
                    // A callback's final status waits for a read (or is taken past expiry).
                    Some(_) if !from_read => {}
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
            prop_assert_eq!(committed.next_due_at().is_none(), committed.is_handed_off() || committed.is_parked());
            // (A tick only checks for giving up; the schedule is set by what was learned.)
            if let (Some(due), false, None) = (committed.next_due_at(), matches!(step, Step::Tick), committed.final_status()) {
                let before = expires_at - policy.read_before_expiry;
                if now < before {
                    prop_assert!(due <= before, "no read is skipped past the last one that can see a payment");
                }
            }
        }
        // Each outcome once; the one pair: an expiry, then the payment that came after it.
        let expected = match (committed.final_status(), committed.is_handed_off()) {
            (Some(FinalStatus::CompletedAfterExpired), true) => vec![FinalStatus::Expired, FinalStatus::CompletedAfterExpired],
            (Some(FinalStatus::CompletedAfterExpired), false) => vec![FinalStatus::Expired],
            (Some(status), true) => vec![status],
            _ => Vec::new(),
        };
        prop_assert_eq!(app_table, expected, "what the app committed is what the store handed off");
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

/// Issue 36: under the default policy a session that stays `WAITING` for its 47 hours is read
/// at most 24 times (it was 293), all reads of the rules' own schedule; one that shows activity
/// (an `IN_PROGRESS` callback: the consumer opened the page) is read within a minute after, and
/// again soon, in case its final callback is lost; every session is read after its expiry grace.
#[test]
fn a_waiting_session_costs_few_reads_and_an_active_one_is_read_soon() {
    let policy = TrackingPolicy::default();
    let reads = |tracked: &mut TrackedSession, from: u64, until: u64| {
        let mut at_times = Vec::new();
        while let Some(due) = tracked.next_due_at() {
            let secs = due.duration_since(UNIX_EPOCH).unwrap().as_secs();
            if secs > until {
                break;
            }
            at_times.push(secs - from);
            if tracked.observe(&session("WAITING", None), due, &policy).is_some() {
                break;
            }
        }
        at_times
    };
    let mut waiting = TrackedSession::new("s1", None, at(START), &policy);
    let life = 47 * 3600;
    let all = reads(&mut waiting, START, START + life + 3600);
    assert!(all.len() <= 24, "{} reads over its 47 hours: {all:?}", all.len());
    assert!(all.iter().any(|&t| t > life + 600 - 60), "one read after the expiry grace: {all:?}");
    let gaps: Vec<u64> = all.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&gap| gap <= 4 * 3600), "never more than 4 hours without a read: {gaps:?}");

    // Activity hours in: read 30 s after, then at most minutes apart for a while.
    let mut active = TrackedSession::new("s2", None, at(START), &policy);
    let opened = START + 10 * 3600;
    reads(&mut active, START, opened);
    let in_progress = hpp_core::callback::StatusCallback::parse(
        br#"{"event_id":"e","session":{"session_id":"s2","status":"IN_PROGRESS"}}"#,
    )
    .unwrap();
    active.observe_callback(&in_progress.session, at(opened), &policy);
    let after = reads(&mut active, opened, opened + 3600);
    assert_eq!(after.first(), Some(&30), "{after:?}");
    assert!(after.len() >= 6, "read again and again in the hour after the consumer came: {after:?}");
}

#[test]
fn reads_follow_the_schedule_and_end_at_expiry() {
    let mut policy = TrackingPolicy::default();
    policy.max_interval = Duration::from_secs(600);
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
    // A 404 before expiry is retried; so is one inside the grace after it (a payment's callback
    // may still come), with a read due when the grace ends; after that, the session has expired.
    let mut early = tracked.clone();
    assert_eq!(early.read_failed(&not_found(), at(expires - 10), &policy), None);
    assert_eq!(tracked.read_failed(&not_found(), at(expires + 30), &policy), None, "inside the grace");
    let again = tracked.next_due_at().unwrap();
    assert!(again > at(expires + 30) && again <= at(expires + 600), "read again within the grace: {again:?}");
    assert_eq!(tracked.read_failed(&not_found(), at(expires + 600), &policy), Some(FinalStatus::Expired));
    assert!(tracked.is_confirmed(), "the API's 404 after the grace");
    assert_eq!(tracked.next_due_at(), Some(at(expires + 600)), "the hand-off is due");
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
    tracked.hand_off_failed("test", at(expires + 3600), &policy);
    assert_eq!(tracked.next_due_at(), Some(at(expires + 3630)), "a failed hand-off is due again, backing off");
    assert_eq!(tracked.check_expiry(at(expires + 3601), &policy), Some(FinalStatus::Expired), "until handed off");
    tracked.handed_off();
    assert_eq!(tracked.check_expiry(at(expires + 3602), &policy), None, "once");
    assert_eq!(tracked.observe(&session("COMPLETED", None), at(expires + 3602), &policy), None, "final is absorbing");
    assert_eq!(tracked.final_status(), Some(FinalStatus::Expired));
    assert!(!tracked.is_confirmed(), "given up: the API never said");
}

/// A callback's final status waits for a read; a read that surely left after it and shows the
/// session open drops it; past expiry nothing can confirm, and the callback's word is taken,
/// unconfirmed; a COMPLETED after an expiry was handed off is a late payment, once.
#[test]
fn a_callback_final_status_waits_for_the_api() {
    let policy = TrackingPolicy::default();
    let expires = START + 3600;
    let fresh = || TrackedSession::new("s1", Some(at(expires)), at(START), &policy);
    let paid = session("COMPLETED", Some(START + 5));

    let mut confirmed = fresh();
    assert_eq!(confirmed.observe_callback(&paid, at(START + 10), &policy), None, "not on its word");
    assert_eq!(confirmed.next_due_at(), Some(at(START + 10)), "a read at once");
    assert_eq!(confirmed.observe(&paid, at(START + 11), &policy), Some(FinalStatus::Completed));
    assert!(confirmed.is_confirmed());

    let mut forged = fresh();
    forged.observe_callback(&paid, at(START + 10), &policy);
    assert_eq!(forged.observe(&session("WAITING", None), at(START + 20), &policy), None);
    let again = forged.next_due_at().unwrap();
    assert!(again <= at(START + 70) + Duration::from_millis(1), "maybe stale: read again soon: {again:?}");
    assert_eq!(forged.observe(&session("WAITING", None), at(START + 71), &policy), None);
    assert_eq!(forged.read_failed(&not_found(), at(expires + 30), &policy), None, "the claim was dropped");
    assert_eq!(forged.read_failed(&not_found(), at(expires + 600), &policy), Some(FinalStatus::Expired));

    let mut unconfirmable = fresh();
    unconfirmable.observe_callback(&paid, at(expires - 5), &policy);
    let became = unconfirmable.read_failed(&not_found(), at(expires + 1), &policy);
    assert_eq!(became, Some(FinalStatus::Completed), "a 404 after expiry cannot confirm: handed off as it is");
    assert!(!unconfirmable.is_confirmed());

    let mut trusting = fresh();
    let mut trust = TrackingPolicy::default();
    trust.confirm_callbacks = false;
    assert_eq!(trusting.observe_callback(&paid, at(START + 10), &trust), Some(FinalStatus::Completed), "opted out");
    assert!(!trusting.is_confirmed());

    let mut late = fresh();
    late.read_failed(&not_found(), at(expires + 600), &policy);
    late.handed_off();
    let became = late.observe_callback(&paid, at(expires + 700), &policy);
    assert_eq!(became, Some(FinalStatus::CompletedAfterExpired), "a late payment, on its own");
    late.handed_off();
    assert_eq!(late.observe_callback(&paid, at(expires + 701), &policy), None, "once");
    let mut replaced = fresh();
    replaced.read_failed(&not_found(), at(expires + 600), &policy);
    let became = replaced.observe_callback(&paid, at(expires + 601), &policy);
    assert_eq!(became, Some(FinalStatus::Completed), "an expiry not handed off yet is replaced");
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
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use hpp_core::tracking::{Finished, HandOff, Input, MemoryStore, TrackingPolicy, TrackingStore};
    use hpp_runtime::block_on;
    use hpp_testing::store_kit::{self, Books};

    use super::{START, at};

    /// The memory store's unit of work is `()`: the app's books are its own, written when its
    /// work succeeds (the store commits right after, with no await in between).
    #[derive(Default)]
    struct Ledger(Mutex<Vec<String>>);

    impl Books<MemoryStore> for Ledger {
        async fn write(&self, _tx: &mut (), entry: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.lock().unwrap().push(entry.to_owned());
            Ok(())
        }

        async fn committed(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    /// The store kit, as every store runs it (`hpp-postgres` runs it on a real server).
    #[test]
    fn the_memory_store_passes_the_store_kit() {
        for seed in 0..20 {
            block_on(store_kit::check(&MemoryStore::new(store_kit::policy()), &Ledger::default(), seed * 1000));
        }
    }

    /// Issue 36: the read budget, on a fresh store with the default policy.
    #[test]
    fn the_memory_store_keeps_a_read_budget() {
        block_on(store_kit::check_read_budget(&MemoryStore::new(TrackingPolicy::default())));
    }

    /// An app whose hand-off fails while `failing` is set.
    #[derive(Default)]
    struct App {
        failing: AtomicBool,
    }

    impl HandOff<MemoryStore> for App {
        async fn hand_off(
            &self,
            _tx: &mut (),
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            if self.failing.load(Ordering::SeqCst) {
                return Err("the app's database is down".into());
            }
            Ok(())
        }
    }

    #[test]
    fn only_handed_off_sessions_are_forgotten() {
        let store = MemoryStore::default();
        let app = App::default();
        block_on(store.apply(Input::Track { session_id: "s1", expires_at: None, order_key: None }, at(START), &app))
            .unwrap();
        app.failing.store(true, Ordering::SeqCst);
        let paid = super::session("COMPLETED", None);
        let paid = Input::Read { session_id: "s1", result: Ok(&paid) };
        assert!(block_on(store.apply(paid, at(START), &app)).is_err());
        assert_eq!(block_on(store.pending()).unwrap(), 1, "final, not handed off: still work to do");
        assert_eq!(store.forget_handed_off(), 0, "a payment not handed off is never forgotten");
        app.failing.store(false, Ordering::SeqCst);
        block_on(store.apply(paid, at(START + 1), &app)).unwrap();
        assert_eq!(block_on(store.pending()).unwrap(), 0);
        assert_eq!(store.forget_handed_off(), 1);
        assert!(block_on(store.get("s1")).unwrap().is_none());
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
            _tx: &mut (),
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Ok(())
        }

        async fn on_event(
            &self,
            _tx: &mut (),
            callback: &StatusCallback,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            if *self.refusing.lock().unwrap() {
                return Err("the app answered 500".into());
            }
            self.printed.lock().unwrap().push(callback.event_id.clone());
            Ok(())
        }
    }

    pub(super) fn event(id: &str, status: &str) -> StatusCallback {
        let body = format!(r#"{{"event_id":"{id}","session":{{"session_id":"s1","status":"{status}"}}}}"#);
        StatusCallback::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn every_event_is_seen_once_and_a_refused_one_again_on_its_retry() {
        // A tool that prints every callback tracks the sessions they name (the CLI's listener).
        let mut policy = hpp_core::tracking::TrackingPolicy::default();
        policy.track_unknown_sessions = true;
        let store = MemoryStore::new(policy);
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
fn steps_carry_the_session_except_for_an_expiry_and_refuse_what_has_no_id() {
    use hpp_core::tracking::{Applied, Input, Step};
    let policy = TrackingPolicy::default();
    let mut paid = session("COMPLETED", Some(START));
    paid.authorization_token = Some("planted-token-3f".into());
    paid.session_id = Some("s1".into());
    let callback = hpp_core::callback::StatusCallback::parse(
        serde_json::json!({ "event_id": "e1", "session": paid }).to_string().as_bytes(),
    )
    .unwrap();
    let tracked = TrackedSession::new("s1", Some(at(START + 60)), at(START), &policy);
    let mut trust = TrackingPolicy::default();
    trust.confirm_callbacks = false;
    let step = Step::decide(Some(&tracked), false, false, Input::Callback(&callback), at(START), &trust).unwrap();
    let finished = step.finished().unwrap();
    assert_eq!(finished.session.as_ref().and_then(|s| s.authorization_token.as_deref()), Some("planted-token-3f"));
    let shown = format!("{finished:?} {step:?}");
    assert!(shown.contains("s1") && shown.contains("Completed"), "{shown}");
    assert!(!shown.contains("planted-token-3f"), "Debug masks the token: {shown}");

    let tracked = TrackedSession::new("s2", Some(at(START + 60)), at(START), &policy);
    let gone_error = not_found();
    let gone = Input::Read { session_id: "s2", result: Err(&gone_error) };
    let step = Step::decide(Some(&tracked), false, false, gone, at(START + 660), &policy).unwrap();
    let expired = step.finished().unwrap();
    assert_eq!((expired.status, &expired.session), (FinalStatus::Expired, &None));
    let waiting = session("WAITING", None);
    let read = Input::Read { session_id: "s2", result: Ok(&waiting) };
    let given_up =
        Step::decide(Some(&tracked), false, false, Input::Tick { session_id: "s2" }, at(START + 3660), &policy);
    assert_eq!(given_up.unwrap().finished().map(|f| (f.status, f.session.clone())), Some((FinalStatus::Expired, None)));
    assert!(Step::decide(Some(&tracked), false, false, read, at(START + 1), &policy).unwrap().finished().is_none());

    let anonymous =
        hpp_core::callback::StatusCallback::parse(br#"{"event_id":"e3","session":{"status":"COMPLETED"}}"#).unwrap();
    let refused = Step::decide(None, false, false, Input::Callback(&anonymous), at(START), &policy).unwrap_err();
    assert_eq!(refused, Applied::Unknown, "no session id: nothing");
    let untracked = Step::decide(None, false, false, Input::Callback(&callback), at(START), &policy).unwrap_err();
    assert_eq!(untracked, Applied::Unknown, "a session never tracked: nothing");
    let mut adopting = TrackingPolicy::default();
    adopting.track_unknown_sessions = true;
    assert!(Step::decide(None, false, false, Input::Callback(&callback), at(START), &adopting).is_ok(), "unless asked");
    assert_eq!(
        Step::decide(None, false, false, read, at(START), &policy).unwrap_err(),
        Applied::Unknown,
        "an untracked read"
    );
    let track = Input::Track { session_id: "s2", expires_at: None, order_key: None };
    assert_eq!(
        Step::decide(Some(&tracked), false, false, track, at(START), &policy).unwrap_err(),
        Applied::Done { handed_off: None },
        "tracking it again: nothing to write"
    );
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
