//! The store kit: one suite every [`TrackingStore`] runs, as `hpp-conformance` is for transports.
//! The stores take their steps through [`Step`](hpp_core::tracking::Step), so what they commit is
//! decided once; the kit checks that each store loads, locks, runs and writes as it is told:
//! the same answers, the same state, the same claims, and the app's work committed exactly once.
//!
//! A store author writes [`Books`] for their store (the app's own record, written inside the
//! step's unit of work: for a database, a row in the same transaction) and calls [`check`]:
//!
//! ```
//! use std::sync::Mutex;
//! use hpp_core::tracking::{MemoryStore, TrackingPolicy};
//! use hpp_testing::store_kit::{self, Books};
//!
//! /// The memory store's unit of work is `()`: the app's books are its own, written on success.
//! #[derive(Default)]
//! struct Ledger(Mutex<Vec<String>>);
//!
//! impl Books<MemoryStore> for Ledger {
//!     async fn write(&self, _tx: &mut (), entry: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!         self.0.lock().unwrap().push(entry.to_owned());
//!         Ok(())
//!     }
//!     async fn committed(&self) -> Vec<String> {
//!         self.0.lock().unwrap().clone()
//!     }
//! }
//!
//! let store = MemoryStore::new(store_kit::policy());
//! hpp_runtime::block_on(store_kit::check(&store, &Ledger::default(), 7));
//! // The read budget, on a fresh store with the default policy:
//! hpp_runtime::block_on(store_kit::check_read_budget(&MemoryStore::new(TrackingPolicy::default())));
//! ```
//!
//! Every check uses its own session and event ids, so one store (one database) serves them
//! all. A failure panics with the check's name and what differed.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::callback::StatusCallback;
use hpp_core::tracking::{Applied, Due, FinalStatus, Finished, HandOff, Input, StoreError, TrackingStore};
use hpp_core::{Session, SessionStatus};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The app's own record for the kit: written by the kit's [`HandOff`] inside the step's unit of
/// work (`tx`), so that it commits with the step or not at all, and read back after.
pub trait Books<S: TrackingStore + ?Sized>: Send + Sync {
    /// Writes `entry` through `tx` (a database store: an `INSERT` into the app's table).
    fn write(&self, tx: &mut S::Tx, entry: &str) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Every entry committed so far, in any order.
    fn committed(&self) -> impl Future<Output = Vec<String>> + Send;
}

/// The policy [`check`] needs the store to read on: the default, without a read budget (the
/// kit's clock jumps back and forth between checks, which a shared budget would hold against
/// it; [`check_read_budget`] checks the budget on a fresh store).
pub fn policy() -> hpp_core::tracking::TrackingPolicy {
    let mut policy = hpp_core::tracking::TrackingPolicy::default();
    policy.max_reads_per_second = None;
    policy
}

/// Runs every check of the kit on `store` (whose policy must be [`policy`]), with `books` as the
/// app's record, and twelve interleavings from `seed`. Panics on the first difference, naming
/// the check.
pub async fn check<S, B>(store: &S, books: &B, seed: u64)
where
    S: TrackingStore,
    B: Books<S>,
{
    let kit = Kit {
        store,
        app: App { books, failing: AtomicBool::new(false), hang: AtomicBool::new(false), hung: AtomicBool::new(false) },
    };
    kit.callbacks_hand_off_once().await;
    kit.what_cannot_be_applied_is_answered_so().await;
    kit.a_refused_event_commits_nothing().await;
    kit.a_failed_hand_off_keeps_the_payment().await;
    kit.a_forged_final_callback_ships_nothing().await;
    kit.a_payment_just_before_expiry_is_never_lost().await;
    kit.a_payment_after_the_expiry_was_handed_off_comes_once().await;
    kit.an_order_is_handed_off_as_paid_once().await;
    kit.a_hand_off_that_always_fails_is_parked().await;
    kit.claims_are_leased_and_released_by_reads_and_ticks().await;
    kit.tracking_takes_expiry_from_the_creation().await;
    kit.a_step_under_way_makes_others_busy_and_an_abandoned_one_commits_nothing().await;
    for case in 0..12 {
        kit.interleaving(seed.wrapping_add(case)).await;
    }
    // Last: the pause is the store's, for every session (set far past every other check's time).
    kit.a_pause_of_reads_holds_every_claim().await;
    // After it: pruning at a time past every other check deletes what they handed off.
    kit.retention_deletes_only_what_is_done().await;
    kit.received_callbacks_are_applied_once().await;
    kit.counts_say_where_sessions_stand().await;
}

/// An app that does nothing with what it is handed, for any store: for tests whose subject is
/// not the app's work (claims, logs, TLS, benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHandOff;

impl<S: TrackingStore> HandOff<S> for NoHandOff {
    async fn hand_off(&self, _tx: &mut S::Tx, _finished: &Finished) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Checks the read budget ([`TrackingPolicy::max_reads_per_second`], 20 a second by default)
/// on `store`, which must be fresh (nothing tracked, no claim made) and read on the default
/// [`TrackingPolicy`]: claims at one moment take at most a second's worth of reads, the most
/// likely to have changed first (a callback's final status to confirm); the budget refills at its
/// rate, never past a second's worth; every claimant takes from the same budget. Panics on the
/// first difference.
///
/// [`TrackingPolicy::max_reads_per_second`]: hpp_core::tracking::TrackingPolicy::max_reads_per_second
/// [`TrackingPolicy`]: hpp_core::tracking::TrackingPolicy
pub async fn check_read_budget<S: TrackingStore>(store: &S) {
    const CHECK: &str = "check_read_budget";
    let t = START;
    for n in 0..40 {
        let id = format!("kit-budget-s{n}");
        let track = Input::Track { session_id: &id, expires_at: Some(at(t + 36_000)), order_key: None };
        store.apply(track, at(t), &NoHandOff).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    }
    // A callback's final status to confirm: due at once, and first.
    let paid = callback("kit-budget-e1", "kit-budget-s39", "COMPLETED", t + 40);
    store.apply(Input::Callback(&paid), at(t + 40), &NoHandOff).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    let claim = |owner: &'static str, now: SystemTime| async move {
        store.claim_due(owner, 100, Duration::from_secs(60), now).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"))
    };
    let now = at(t + 100);
    let first = claim("replica-a", now).await;
    assert_eq!(first.len(), 20, "{CHECK}: a second's worth of reads at once (20 a second)");
    assert_eq!(first.first(), Some(&Due::Read("kit-budget-s39".to_owned())), "{CHECK}: the callback's first");
    assert!(claim("replica-b", now).await.is_empty(), "{CHECK}: the budget is every claimant's");
    let half = claim("replica-b", now + Duration::from_millis(500)).await;
    assert_eq!(half.len(), 10, "{CHECK}: refilled at 20 a second");
    let later = claim("replica-a", now + Duration::from_secs(30)).await;
    assert_eq!(later.len(), 10, "{CHECK}: the rest (never more than a second's worth at once)");
}

/// The start of the kit's clock (2027-01-15).
const START: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn callback(event_id: &str, session_id: &str, status: &str, updated_at: u64) -> StatusCallback {
    let body = format!(
        r#"{{"event_id":"{event_id}","session":{{"session_id":"{session_id}","status":"{status}","updated_at":"{}"}}}}"#,
        hpp_core::__private::time::format_rfc3339(at(updated_at))
    );
    // invariant: built from the kit's own ids and the API's status names.
    StatusCallback::parse(body.as_bytes()).expect("a kit callback parses")
}

fn session(status: &str) -> Session {
    let mut session = Session::default();
    session.status = Some(SessionStatus::from(status));
    session
}

/// A read that failed with `status`.
fn read_error(status: u16) -> hpp_core::Error {
    use hpp_core::{Operation, ReadSession};
    let response = http::Response::builder().status(status).body(Vec::new());
    // invariant: a status and an empty body always build, and a non-2xx read is an error.
    ReadSession::new("kit").parse(response.expect("a response builds")).expect_err("a non-2xx read fails")
}

/// The kit's app: writes an entry per first-seen event and per hand-off, through the store's
/// unit of work. `failing` makes both refuse before writing; `hang` makes both wait for ever
/// before writing, once they have said so.
struct App<'b, B> {
    books: &'b B,
    failing: AtomicBool,
    hang: AtomicBool,
    /// Set when a hanging app's work has started (read by the kit between polls).
    hung: AtomicBool,
}

impl<B> App<'_, B> {
    async fn gate(&self) -> Result<(), BoxError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("the app's database is down".into());
        }
        if self.hang.load(Ordering::SeqCst) {
            self.hung.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

impl<S: TrackingStore, B: Books<S>> HandOff<S> for App<'_, B> {
    async fn hand_off(&self, tx: &mut S::Tx, finished: &Finished) -> Result<(), BoxError> {
        self.gate().await?;
        if let Some(order) = &finished.order_key {
            self.books.write(tx, &format!("order {order} {}", finished.status)).await?;
        }
        self.books.write(tx, &format!("handed {} {}", finished.session_id, finished.status)).await
    }

    async fn on_event(&self, tx: &mut S::Tx, callback: &StatusCallback) -> Result<(), BoxError> {
        self.gate().await?;
        self.books.write(tx, &format!("event {}", callback.event_id)).await
    }
}

struct Kit<'a, S, B> {
    store: &'a S,
    app: App<'a, B>,
}

impl<S: TrackingStore, B: Books<S>> Kit<'_, S, B> {
    async fn apply(&self, input: Input<'_>, now: u64) -> Result<Applied, StoreError> {
        self.store.apply(input, at(now), &self.app).await
    }

    /// Applies `input`, waiting out [`Applied::Busy`] (a store that has not yet seen an
    /// abandoned step's end): readiness, polled, never a sleep.
    async fn apply_when_free(&self, input: Input<'_>, now: u64) -> Result<Applied, StoreError> {
        for _ in 0..10_000 {
            match self.apply(input, now).await {
                Ok(Applied::Busy) => continue,
                other => return other,
            }
        }
        panic!("store kit: {} stayed busy", input.session_id());
    }

    /// The rest of every committed entry that starts with `prefix`, sorted.
    async fn entries(&self, prefix: &str) -> Vec<String> {
        let committed = self.app.books.committed().await;
        let mut found: Vec<String> =
            committed.into_iter().filter_map(|entry| entry.strip_prefix(prefix).map(str::to_owned)).collect();
        found.sort();
        found
    }

    /// The statuses `session_id` was handed off with, sorted.
    async fn handed(&self, session_id: &str) -> Vec<String> {
        self.entries(&format!("handed {session_id} ")).await
    }

    /// What the app was handed for `order`, sorted.
    async fn order(&self, order: &str) -> Vec<String> {
        self.entries(&format!("order {order} ")).await
    }

    async fn events(&self, event_id: &str) -> usize {
        let entry = format!("event {event_id}");
        self.app.books.committed().await.iter().filter(|e| **e == entry).count()
    }

    async fn state(&self, session_id: &str) -> Option<hpp_core::tracking::TrackedSession> {
        self.store.get(session_id).await.unwrap_or_else(|e| panic!("store kit: get({session_id}): {e}"))
    }

    async fn claim(&self, owner: &str, now: u64) -> Vec<Due> {
        self.store
            .claim_due(owner, 10_000, Duration::from_secs(60), at(now))
            .await
            .unwrap_or_else(|e| panic!("store kit: claim_due: {e}"))
    }

    /// This kit run's claims of `session_id` at `now` (other checks' sessions may be due too).
    async fn claimed(&self, session_id: &str, now: u64) -> Vec<Due> {
        self.claim("kit", now).await.into_iter().filter(|due| due.session_id() == session_id).collect()
    }

    async fn callbacks_hand_off_once(&self) {
        const CHECK: &str = "callbacks_hand_off_once";
        let s = "kit-once-s1";
        let track = Input::Track { session_id: s, expires_at: Some(at(START + 3600)), order_key: None };
        assert_eq!(self.apply(track, START).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}: track");
        assert_eq!(self.apply(track, START).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}: idempotent");
        let opened = callback("kit-once-e0", s, "IN_PROGRESS", START + 1);
        assert_eq!(self.apply(Input::Callback(&opened), START + 1).await.unwrap(), Applied::Done { handed_off: None });
        // A callback's COMPLETED is recorded and a read is due at once; the read hands it off.
        let paid = callback("kit-once-e1", s, "COMPLETED", START + 2);
        let first = self.apply(Input::Callback(&paid), START + 2).await.unwrap();
        assert_eq!(first, Applied::Done { handed_off: None }, "{CHECK}: a callback's word alone ships nothing");
        assert_eq!(self.claimed(s, START + 2).await, [Due::Read(s.to_owned())], "{CHECK}: read at once");
        assert_eq!(self.apply(Input::Callback(&paid), START + 5).await.unwrap(), Applied::Duplicate, "{CHECK}");
        let read = session("COMPLETED");
        let input = Input::Read { session_id: s, result: Ok(&read) };
        let confirmed = self.apply(input, START + 6).await.unwrap();
        assert_eq!(
            confirmed,
            Applied::Done { handed_off: Some(FinalStatus::Completed) },
            "{CHECK}: confirmed by the read"
        );
        assert_eq!(
            self.apply(input, START + 7).await.unwrap(),
            Applied::Done { handed_off: None },
            "{CHECK}: read again"
        );
        let other = callback("kit-once-e2", s, "CANCELLED", START + 7);
        assert_eq!(self.apply(Input::Callback(&other), START + 7).await.unwrap(), Applied::Done { handed_off: None });
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}: handed off once, the first final status");
        for event in ["kit-once-e0", "kit-once-e1", "kit-once-e2"] {
            assert_eq!(self.events(event).await, 1, "{CHECK}: {event} seen once");
        }
        let state = self.state(s).await.expect("tracked");
        assert_eq!((state.final_status(), state.is_handed_off()), (Some(FinalStatus::Completed), true), "{CHECK}");
        assert_eq!(state.next_due_at(), None, "{CHECK}: nothing due once handed off");
    }

    async fn what_cannot_be_applied_is_answered_so(&self) {
        const CHECK: &str = "what_cannot_be_applied_is_answered_so";
        let gone = read_error(404);
        let read = Input::Read { session_id: "kit-unknown-s0", result: Err(&gone) };
        assert_eq!(self.apply(read, START).await.unwrap(), Applied::Unknown, "{CHECK}: a read of an untracked session");
        let tick = Input::Tick { session_id: "kit-unknown-s0" };
        assert_eq!(self.apply(tick, START).await.unwrap(), Applied::Unknown, "{CHECK}: a tick of it");
        let anonymous = StatusCallback::parse(br#"{"event_id":"kit-unknown-e0","session":{"status":"COMPLETED"}}"#)
            .expect("parses");
        assert_eq!(self.apply(Input::Callback(&anonymous), START).await.unwrap(), Applied::Unknown, "{CHECK}");
        assert_eq!(self.events("kit-unknown-e0").await, 0, "{CHECK}: an unknown event reaches no app");
        // A callback for a session never tracked (forged, or another app's): nothing, no app code.
        let stranger = callback("kit-unknown-e1", "kit-unknown-s1", "COMPLETED", START);
        assert_eq!(self.apply(Input::Callback(&stranger), START).await.unwrap(), Applied::Unknown, "{CHECK}");
        assert!(self.state("kit-unknown-s1").await.is_none(), "{CHECK}: an unknown session is not tracked");
        assert_eq!(self.events("kit-unknown-e1").await, 0, "{CHECK}: nor shown to the app");
        assert!(self.state("kit-unknown-s0").await.is_none(), "{CHECK}: a read does not track either");
    }

    /// The app refuses a non-final event: nothing of the step is committed, on any store (the
    /// memory store once kept the status and tracked a session it never had, PostgreSQL not).
    async fn a_refused_event_commits_nothing(&self) {
        const CHECK: &str = "a_refused_event_commits_nothing";
        let s2 = "kit-refused-s2";
        self.apply(Input::Track { session_id: s2, expires_at: Some(at(START + 3600)), order_key: None }, START)
            .await
            .unwrap();
        let before = self.state(s2).await;
        self.app.failing.store(true, Ordering::SeqCst);
        let tracked = callback("kit-refused-e2", s2, "IN_PROGRESS", START + 1);
        let paid = callback("kit-refused-e3", s2, "COMPLETED", START + 1);
        for event in [&tracked, &paid] {
            let refused = self.apply(Input::Callback(event), START + 1).await;
            assert!(matches!(refused, Err(StoreError::HandOff(_))), "{CHECK}: {refused:?}");
        }
        self.app.failing.store(false, Ordering::SeqCst);
        assert_eq!(self.state(s2).await, before, "{CHECK}: a tracked session is as it was");
        for (event, now) in [(&tracked, START + 2)] {
            let retried = self.apply(Input::Callback(event), now).await.unwrap();
            assert_eq!(retried, Applied::Done { handed_off: None }, "{CHECK}: the retry is applied, not a duplicate");
            assert_eq!(self.events(&event.event_id).await, 1, "{CHECK}");
        }
        let state = self.state(s2).await.expect("tracked");
        assert_eq!(state.status(), Some(&SessionStatus::InProgress), "{CHECK}: the retry's status is kept");
    }

    async fn a_failed_hand_off_keeps_the_payment(&self) {
        const CHECK: &str = "a_failed_hand_off_keeps_the_payment";
        let s = "kit-failed-s1";
        self.apply(Input::Track { session_id: s, expires_at: Some(at(START + 3600)), order_key: None }, START)
            .await
            .unwrap();
        let pending = self.store.pending().await.unwrap();
        self.app.failing.store(true, Ordering::SeqCst);
        let read = session("COMPLETED");
        let failed = self.apply(Input::Read { session_id: s, result: Ok(&read) }, START + 1).await;
        assert!(matches!(failed, Err(StoreError::HandOff(_))), "{CHECK}: {failed:?}");
        let state = self.state(s).await.expect("tracked");
        assert_eq!(state.final_status(), Some(FinalStatus::Completed), "{CHECK}: the payment is kept");
        assert!(!state.is_handed_off(), "{CHECK}");
        assert!(state.next_due_at().is_some_and(|due| due > at(START + 1)), "{CHECK}: retried after a back-off");
        assert_eq!(self.store.pending().await.unwrap(), pending, "{CHECK}: still work outstanding");
        assert!(self.handed(s).await.is_empty(), "{CHECK}: the app's work rolled back");
        // The service's callback meanwhile: not a duplicate while the hand-off is due; it runs it.
        let paid = callback("kit-failed-e1", s, "COMPLETED", START + 2);
        let failed = self.apply(Input::Callback(&paid), START + 2).await;
        assert!(matches!(failed, Err(StoreError::HandOff(_))), "{CHECK}: {failed:?}");
        assert_eq!(self.events("kit-failed-e1").await, 0, "{CHECK}: the event's work rolled back too");
        let state = self.state(s).await.expect("tracked");
        // Due again: a poller's claim reads it, and the read hands it off once the app is back.
        let due_at = state.next_due_at().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs() + 1;
        assert_eq!(self.claimed(s, due_at).await, [Due::Read(s.to_owned())], "{CHECK}: the hand-off is due again");
        self.app.failing.store(false, Ordering::SeqCst);
        let applied = self.apply(Input::Read { session_id: s, result: Ok(&read) }, due_at).await.unwrap();
        assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) }, "{CHECK}");
        assert_eq!(self.apply(Input::Callback(&paid), due_at + 1).await.unwrap(), Applied::Done { handed_off: None });
        assert_eq!(self.apply(Input::Callback(&paid), due_at + 2).await.unwrap(), Applied::Duplicate, "{CHECK}");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}");
        assert_eq!(self.events("kit-failed-e1").await, 1, "{CHECK}");
        assert_eq!(self.store.pending().await.unwrap(), pending - 1, "{CHECK}");
    }

    /// A callback says COMPLETED; the API says WAITING: nothing is handed off, and the session
    /// ends as the API says (expired, in the end).
    async fn a_forged_final_callback_ships_nothing(&self) {
        const CHECK: &str = "a_forged_final_callback_ships_nothing";
        let s = "kit-forged-s1";
        let t = START + 2_000_000;
        let expires = t + 3600;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(expires)), order_key: None }, t).await.unwrap();
        let forged = callback("kit-forged-e1", s, "COMPLETED", t + 10);
        assert_eq!(self.apply(Input::Callback(&forged), t + 10).await.unwrap(), Applied::Done { handed_off: None });
        let waiting = session("WAITING");
        let read = Input::Read { session_id: s, result: Ok(&waiting) };
        // A read applied soon after may have left before the callback: it is read again.
        assert_eq!(self.apply(read, t + 11).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}");
        let due = self.state(s).await.and_then(|s| s.next_due_at()).expect("due");
        assert!(due <= at(t + 71), "{CHECK}: read again once no read can predate the callback: {due:?}");
        // A read that surely left after it, still WAITING: the callback is contradicted, dropped.
        assert_eq!(self.apply(read, t + 80).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}");
        let gone = read_error(404);
        let gone = Input::Read { session_id: s, result: Err(&gone) };
        let after = expires + 30;
        assert_eq!(self.apply(gone, after).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}: grace");
        let expired = self.apply(gone, expires + 600).await.unwrap();
        assert_eq!(expired, Applied::Done { handed_off: Some(FinalStatus::Expired) }, "{CHECK}: as the API says");
        assert_eq!(self.handed(s).await, ["EXPIRED"], "{CHECK}: never shipped on the forged word");
        assert!(self.state(s).await.expect("tracked").is_confirmed(), "{CHECK}: the 404s confirm the expiry");
    }

    /// Paid seconds before expiry, its callback held back past it: the 404s inside the grace end
    /// nothing, and the late callback is handed off (unconfirmed: the API can no longer say).
    async fn a_payment_just_before_expiry_is_never_lost(&self) {
        const CHECK: &str = "a_payment_just_before_expiry_is_never_lost";
        let s = "kit-late-s1";
        let t = START + 3_000_000;
        let expires = t + 3600;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(expires)), order_key: None }, t).await.unwrap();
        let gone = read_error(404);
        let gone = Input::Read { session_id: s, result: Err(&gone) };
        assert_eq!(self.apply(gone, expires + 30).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}");
        let state = self.state(s).await.expect("tracked");
        assert_eq!(state.final_status(), None, "{CHECK}: a 404 inside the grace ends nothing");
        let paid = callback("kit-late-e1", s, "COMPLETED", expires - 10);
        let late = self.apply(Input::Callback(&paid), expires + 48).await.unwrap();
        assert_eq!(late, Applied::Done { handed_off: Some(FinalStatus::Completed) }, "{CHECK}: not lost");
        let state = self.state(s).await.expect("tracked");
        assert!(!state.is_confirmed(), "{CHECK}: the API could not confirm it");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}");
        assert_eq!(self.apply(gone, expires + 700).await.unwrap(), Applied::Done { handed_off: None }, "{CHECK}");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}: never expired after");
    }

    /// A COMPLETED delivered after the session was handed off as expired: handed off once, as a
    /// late payment.
    async fn a_payment_after_the_expiry_was_handed_off_comes_once(&self) {
        const CHECK: &str = "a_payment_after_the_expiry_was_handed_off_comes_once";
        let s = "kit-after-s1";
        let t = START + 4_000_000;
        let expires = t + 3600;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(expires)), order_key: None }, t).await.unwrap();
        let gone = read_error(404);
        let gone = Input::Read { session_id: s, result: Err(&gone) };
        let expired = self.apply(gone, expires + 600).await.unwrap();
        assert_eq!(expired, Applied::Done { handed_off: Some(FinalStatus::Expired) }, "{CHECK}");
        let paid = callback("kit-after-e1", s, "COMPLETED", expires - 5);
        let late = self.apply(Input::Callback(&paid), expires + 610).await.unwrap();
        assert_eq!(late, Applied::Done { handed_off: Some(FinalStatus::CompletedAfterExpired) }, "{CHECK}");
        assert_eq!(self.apply(Input::Callback(&paid), expires + 611).await.unwrap(), Applied::Duplicate, "{CHECK}");
        let again = callback("kit-after-e2", s, "COMPLETED", expires - 5);
        assert_eq!(
            self.apply(Input::Callback(&again), expires + 612).await.unwrap(),
            Applied::Done { handed_off: None }
        );
        assert_eq!(self.handed(s).await, ["COMPLETED_AFTER_EXPIRED", "EXPIRED"], "{CHECK}: each once");
        assert_eq!(self.state(s).await.and_then(|s| s.next_due_at()), None, "{CHECK}: nothing due after");
    }

    /// Two sessions of one order both paid: the first handed off as paid, the second as paid
    /// twice, whichever order their steps come in and whatever failed between; a cancelled
    /// session is no payment; two steps of one order never run at once.
    async fn an_order_is_handed_off_as_paid_once(&self) {
        const CHECK: &str = "an_order_is_handed_off_as_paid_once";
        let t = START + 5_000_000;
        let track = |s: &'static str, order: &'static str| Input::Track {
            session_id: s,
            expires_at: Some(at(t + 3600)),
            order_key: Some(order),
        };
        for (s, order) in [
            ("kit-order-s1", "kit-order-1"),
            ("kit-order-s2", "kit-order-1"),
            ("kit-order-s3", "kit-order-2"),
            ("kit-order-s4", "kit-order-2"),
            ("kit-order-s5", "kit-order-3"),
            ("kit-order-s6", "kit-order-3"),
            ("kit-order-s7", "kit-order-4"),
            ("kit-order-s8", "kit-order-4"),
        ] {
            self.apply(track(s, order), t).await.unwrap();
        }
        let paid = session("COMPLETED");
        let read = |s: &'static str| Input::Read { session_id: s, result: Ok(&paid) };
        let done = |status| Applied::Done { handed_off: Some(status) };
        assert_eq!(self.apply(read("kit-order-s1"), t + 1).await.unwrap(), done(FinalStatus::Completed), "{CHECK}");
        assert_eq!(
            self.apply(read("kit-order-s2"), t + 2).await.unwrap(),
            done(FinalStatus::CompletedTwice),
            "{CHECK}"
        );
        assert_eq!(
            self.order("kit-order-1").await,
            ["COMPLETED", "COMPLETED_TWICE"],
            "{CHECK}: never paid twice plainly"
        );
        let state = self.state("kit-order-s2").await.expect("tracked");
        assert_eq!(state.order_key(), Some("kit-order-1"), "{CHECK}");
        let order = self.store.order_sessions("kit-order-1").await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        let mut ids: Vec<&str> = order.iter().map(|s| s.session_id()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["kit-order-s1", "kit-order-s2"], "{CHECK}: an order's sessions");
        // The first paid session's hand-off fails; the second's goes first, and is the payment.
        self.app.failing.store(true, Ordering::SeqCst);
        assert!(self.apply(read("kit-order-s3"), t + 3).await.is_err(), "{CHECK}");
        self.app.failing.store(false, Ordering::SeqCst);
        assert_eq!(self.apply(read("kit-order-s4"), t + 4).await.unwrap(), done(FinalStatus::Completed), "{CHECK}");
        let retry = self.state("kit-order-s3").await.and_then(|s| s.next_due_at()).expect("due again");
        let retry = retry.duration_since(UNIX_EPOCH).unwrap().as_secs() + 1;
        assert_eq!(
            self.apply(read("kit-order-s3"), retry).await.unwrap(),
            done(FinalStatus::CompletedTwice),
            "{CHECK}"
        );
        assert_eq!(self.order("kit-order-2").await, ["COMPLETED", "COMPLETED_TWICE"], "{CHECK}");
        // A cancelled session is no payment.
        let cancelled = session("CANCELLED");
        let cancel = Input::Read { session_id: "kit-order-s5", result: Ok(&cancelled) };
        assert_eq!(self.apply(cancel, t + 5).await.unwrap(), done(FinalStatus::Cancelled), "{CHECK}");
        assert_eq!(self.apply(read("kit-order-s6"), t + 6).await.unwrap(), done(FinalStatus::Completed), "{CHECK}");
        // Two sessions of one order are never stepped at once.
        self.hang_until_started(read("kit-order-s7"), t + 7, async {
            let sibling = self.apply(read("kit-order-s8"), t + 7).await.unwrap();
            assert_eq!(sibling, Applied::Busy, "{CHECK}: a sibling's step waits");
        })
        .await;
        assert_eq!(self.apply_when_free(read("kit-order-s8"), t + 8).await.unwrap(), done(FinalStatus::Completed));
        assert_eq!(
            self.apply(read("kit-order-s7"), t + 9).await.unwrap(),
            done(FinalStatus::CompletedTwice),
            "{CHECK}"
        );
    }

    /// A hand-off that always fails is parked after the policy's count: no more reads (nor
    /// claims), still pending; the app's `Unpark` runs it again.
    async fn a_hand_off_that_always_fails_is_parked(&self) {
        const CHECK: &str = "a_hand_off_that_always_fails_is_parked";
        let s = "kit-parked-s1";
        let t = START + 6_000_000;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(t + 3600)), order_key: None }, t).await.unwrap();
        let pending = self.store.pending().await.unwrap();
        let paid = session("COMPLETED");
        let read = Input::Read { session_id: s, result: Ok(&paid) };
        self.app.failing.store(true, Ordering::SeqCst);
        let mut now = t + 1;
        let mut attempts = 0;
        let parked = loop {
            attempts += 1;
            assert!(self.apply(read, now).await.is_err(), "{CHECK}: the app fails");
            let state = self.state(s).await.expect("tracked");
            if state.is_parked() {
                break state;
            }
            assert!(attempts < 1000, "{CHECK}: never parked");
            now = state.next_due_at().expect("due again").duration_since(UNIX_EPOCH).unwrap().as_secs();
        };
        self.app.failing.store(false, Ordering::SeqCst);
        assert_eq!(attempts, 20, "{CHECK}: parked after the policy's count");
        assert_eq!(parked.next_due_at(), None, "{CHECK}: no more reads");
        assert!(self.claimed(s, now + 1_000_000).await.is_empty(), "{CHECK}: nor claims");
        assert_eq!(self.store.pending().await.unwrap(), pending, "{CHECK}: still pending");
        let retried = self.apply(Input::Unpark { session_id: s }, now + 10).await.unwrap();
        assert_eq!(retried, Applied::Done { handed_off: Some(FinalStatus::Completed) }, "{CHECK}: the app's retry");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}");
        let state = self.state(s).await.expect("tracked");
        assert!(!state.is_parked() && state.is_handed_off(), "{CHECK}");
    }

    /// After a 429, reads pause for every claimant until the pause ends; a shorter pause later
    /// does not shorten it.
    async fn a_pause_of_reads_holds_every_claim(&self) {
        const CHECK: &str = "a_pause_of_reads_holds_every_claim";
        let s = "kit-pause-s1";
        let t = START + 4_000_000_000;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(t + 36_000)), order_key: None }, t).await.unwrap();
        self.store.pause_reads(at(t + 500)).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        self.store.pause_reads(at(t + 100)).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        assert!(self.claimed(s, t + 499).await.is_empty(), "{CHECK}: due, but reads are paused");
        assert!(self.claim("another-replica", t + 499).await.is_empty(), "{CHECK}: for every replica");
        assert_eq!(self.claimed(s, t + 500).await, [Due::Read(s.to_owned())], "{CHECK}: the pause ended");
    }

    /// [`TrackingStore::prune`] deletes sessions handed off longer than the retention ago, at
    /// most `max` a call, and never one with work outstanding (not final, or its hand-off
    /// failing); a callback for a deleted session does nothing.
    async fn retention_deletes_only_what_is_done(&self) {
        const CHECK: &str = "retention_deletes_only_what_is_done";
        let retention = hpp_core::tracking::TrackingPolicy::default().retention.as_secs();
        let t = START + 5_000_000_000;
        let paid = session("COMPLETED");
        let (done, waiting, failing) = ("kit-retention-done", "kit-retention-waiting", "kit-retention-failing");
        let batch = ["kit-retention-b1", "kit-retention-b2", "kit-retention-b3"];
        for s in [done, waiting, failing].into_iter().chain(batch) {
            let track = Input::Track { session_id: s, expires_at: Some(at(t + 3600)), order_key: None };
            self.apply(track, t).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        }
        self.apply(Input::Read { session_id: done, result: Ok(&paid) }, t + 1).await.unwrap();
        self.app.failing.store(true, Ordering::SeqCst);
        assert!(self.apply(Input::Read { session_id: failing, result: Ok(&paid) }, t + 1).await.is_err(), "{CHECK}");
        self.app.failing.store(false, Ordering::SeqCst);
        let prune_all = |now: u64| async move {
            let mut deleted = 0;
            for _ in 0..1000 {
                match self.store.prune(at(now), 1000).await.unwrap_or_else(|e| panic!("{CHECK}: {e}")) {
                    0 => return deleted,
                    n => deleted += n,
                }
            }
            panic!("{CHECK}: pruning never ends");
        };
        prune_all(t + 1 + retention - 1).await;
        assert!(self.state(done).await.is_some(), "{CHECK}: kept for the retention");
        prune_all(t + 2 + retention).await;
        assert!(self.state(done).await.is_none(), "{CHECK}: deleted after the retention");
        assert!(self.state(waiting).await.is_some(), "{CHECK}: a session not final is never deleted");
        let state = self.state(failing).await.expect("tracked");
        assert!(state.hand_off_due().is_some(), "{CHECK}: a hand-off still due is never deleted");
        assert_eq!(state.last_error_kind(), Some("unclassified"), "{CHECK}: the failure's kind is kept");
        let late = callback("kit-retention-late", done, "COMPLETED", t + 3);
        let answer = self.apply(Input::Callback(&late), t + 3 + retention).await;
        assert!(matches!(answer, Ok(Applied::Unknown | Applied::Duplicate)), "{CHECK}: {answer:?}");
        assert_eq!(self.handed(done).await, ["COMPLETED"], "{CHECK}: nothing more handed off");

        // Bounded: at most `max` sessions a call.
        for s in batch {
            self.apply(Input::Read { session_id: s, result: Ok(&paid) }, t + 10).await.unwrap();
        }
        self.store.prune(at(t + 11 + retention), 1).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        let mut left = 0;
        for s in batch {
            left += usize::from(self.state(s).await.is_some());
        }
        assert!(left >= 2, "{CHECK}: one call deleted {} sessions, more than its max of 1", 3 - left);
        prune_all(t + 11 + retention).await;
        for s in batch {
            assert!(self.state(s).await.is_none(), "{CHECK}: every batch ends");
        }
    }

    /// [`TrackingStore::receive`]: a callback is applied once, at once or by the session's next
    /// step (a store that records callbacks: [`Applied::Received`]); a redelivery is a duplicate;
    /// a final status makes the session due at once; when the app fails the step that applies
    /// it, the next applies it again; the app sees each event and the payment once.
    async fn received_callbacks_are_applied_once(&self) {
        const CHECK: &str = "received_callbacks_are_applied_once";
        let t = START + 5_500_000_000;
        let s = "kit-received-s1";
        let receive = |callback, now| self.store.receive(callback, at(now), &self.app);
        let kept = |applied: &Applied| matches!(applied, Applied::Received | Applied::Done { handed_off: None });
        let track = Input::Track { session_id: s, expires_at: Some(at(t + 36_000)), order_key: None };
        self.apply(track, t).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        let opened = callback("kit-received-e1", s, "IN_PROGRESS", t + 10);
        let first = receive(&opened, t + 10).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        assert!(kept(&first), "{CHECK}: {first:?}");
        assert_eq!(receive(&opened, t + 11).await.ok(), Some(Applied::Duplicate), "{CHECK}: a redelivery");
        let paid_callback = callback("kit-received-e2", s, "COMPLETED", t + 20);
        let second = receive(&paid_callback, t + 20).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        assert!(kept(&second), "{CHECK}: a read confirms it first: {second:?}");
        assert_eq!(self.claimed(s, t + 20).await, [Due::Read(s.to_owned())], "{CHECK}: due at once");
        let paid = session("COMPLETED");
        self.app.failing.store(true, Ordering::SeqCst);
        let failed = self.apply(Input::Read { session_id: s, result: Ok(&paid) }, t + 21).await;
        self.app.failing.store(false, Ordering::SeqCst);
        assert!(matches!(failed, Err(StoreError::HandOff(_))), "{CHECK}: {failed:?}");
        let done = self.apply(Input::Read { session_id: s, result: Ok(&paid) }, t + 22).await;
        assert_eq!(done.ok(), Some(Applied::Done { handed_off: Some(FinalStatus::Completed) }), "{CHECK}");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}");
        for event in ["kit-received-e1", "kit-received-e2"] {
            assert_eq!(self.events(event).await, 1, "{CHECK}: {event} seen once");
        }
        // After the hand-off: a redelivery, and a new event, hand off nothing more.
        assert_eq!(receive(&paid_callback, t + 30).await.ok(), Some(Applied::Duplicate), "{CHECK}");
        let again = callback("kit-received-e3", s, "COMPLETED", t + 40);
        assert!(receive(&again, t + 40).await.is_ok_and(|applied| kept(&applied)), "{CHECK}");
        let read = self.apply(Input::Read { session_id: s, result: Ok(&paid) }, t + 41).await;
        assert_eq!(read.ok(), Some(Applied::Done { handed_off: None }), "{CHECK}");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}: handed off once");
    }

    /// [`TrackingStore::counts`]: sessions by where they stand and how many are due, as the
    /// rules say (compared before and after, since other checks' sessions share the store).
    async fn counts_say_where_sessions_stand(&self) {
        const CHECK: &str = "counts_say_where_sessions_stand";
        let t = START + 6_000_000_000;
        let later = at(t + 1_000_000);
        let counts = || async { self.store.counts(later).await.unwrap_or_else(|e| panic!("{CHECK}: {e}")) };
        let before = counts().await;
        let paid = session("COMPLETED");
        let (waiting, done, failing) = ("kit-counts-waiting", "kit-counts-done", "kit-counts-failing");
        for s in [waiting, done, failing] {
            let track = Input::Track { session_id: s, expires_at: Some(at(t + 36_000)), order_key: None };
            self.apply(track, t).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
        }
        self.apply(Input::Read { session_id: done, result: Ok(&paid) }, t + 1).await.unwrap();
        self.app.failing.store(true, Ordering::SeqCst);
        assert!(self.apply(Input::Read { session_id: failing, result: Ok(&paid) }, t + 1).await.is_err(), "{CHECK}");
        self.app.failing.store(false, Ordering::SeqCst);
        let after = counts().await;
        let delta = |a: u64, b: u64| a.checked_sub(b).unwrap_or_else(|| panic!("{CHECK}: a count went down"));
        assert_eq!(
            (
                delta(after.waiting, before.waiting),
                delta(after.hand_off_due, before.hand_off_due),
                delta(after.parked, before.parked),
                delta(after.handed_off, before.handed_off),
                delta(after.due, before.due),
            ),
            (1, 1, 0, 1, 2),
            "{CHECK}: (waiting, hand-off due, parked, handed off, due) added: {before:?} -> {after:?}"
        );
        assert!(after.oldest_pending_since.is_some_and(|since| since <= at(t)), "{CHECK}: {after:?}");
        // What a poller claimed is no longer due: `due` is the backlog no poller took. (The last
        // check: these claims outlast every other check's times.)
        let lease = Duration::from_secs(60);
        let claimed = self.store.claim_due("kit-counts", 100_000, lease, later).await.unwrap_or_default();
        assert!(claimed.len() as u64 >= after.due && after.due >= 2, "{CHECK}: {} claimed of {after:?}", claimed.len());
        assert_eq!(counts().await.due, 0, "{CHECK}: claimed sessions counted as due");
    }

    async fn claims_are_leased_and_released_by_reads_and_ticks(&self) {
        const CHECK: &str = "claims_are_leased_and_released_by_reads_and_ticks";
        let s = "kit-claims-s1";
        let t = START + 1_000_000;
        let expires = t + 10 * 3600;
        self.apply(Input::Track { session_id: s, expires_at: Some(at(expires)), order_key: None }, t).await.unwrap();
        let read = || Due::Read(s.to_owned());
        assert!(self.claimed(s, t + 29).await.is_empty(), "{CHECK}: not due before the first read");
        assert_eq!(self.claimed(s, t + 30).await, [read()], "{CHECK}: due");
        assert!(self.claimed(s, t + 31).await.is_empty(), "{CHECK}: leased");
        // A callback during the claim moves the schedule but leaves the claim to its read.
        let opened = callback("kit-claims-e1", s, "IN_PROGRESS", t + 31);
        self.apply(Input::Callback(&opened), t + 31).await.unwrap();
        assert!(self.claimed(s, t + 62).await.is_empty(), "{CHECK}: a callback does not end a claim");
        assert_eq!(self.claimed(s, t + 91).await, [read()], "{CHECK}: a lapsed lease is claimed again");
        // The read is applied: the claim ends, and the next due time alone decides.
        let waiting = session("WAITING");
        self.apply(Input::Read { session_id: s, result: Ok(&waiting) }, t + 92).await.unwrap();
        assert_eq!(self.claimed(s, t + 122).await, [read()], "{CHECK}: a read ends its claim");
        let unavailable = read_error(503);
        self.apply(Input::Read { session_id: s, result: Err(&unavailable) }, t + 123).await.unwrap();
        let state = self.state(s).await.expect("tracked");
        assert_eq!(state.failures(), 1, "{CHECK}");
        let next = state.next_due_at().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(self.claimed(s, next - 1).await.is_empty(), "{CHECK}: backed off");
        assert_eq!(self.claimed(s, next).await, [read()], "{CHECK}: a failed read ends its claim too");
        // Past giving up, a claim says expire, and the tick ends the session and its claim.
        let gave_up = expires + 3600;
        assert_eq!(self.claimed(s, gave_up).await, [Due::Expire(s.to_owned())], "{CHECK}: past giving up");
        let ended = self.apply(Input::Tick { session_id: s }, gave_up).await.unwrap();
        assert_eq!(ended, Applied::Done { handed_off: Some(FinalStatus::Expired) }, "{CHECK}");
        assert!(self.claimed(s, gave_up + 100_000).await.is_empty(), "{CHECK}: nothing due after the hand-off");
        assert_eq!(self.handed(s).await, ["EXPIRED"], "{CHECK}");
    }

    async fn tracking_takes_expiry_from_the_creation(&self) {
        const CHECK: &str = "tracking_takes_expiry_from_the_creation";
        let s = "kit-created-s1";
        let expires = START + 7200;
        let body = format!(
            r#"{{"session_id":"{s}","expires_at":"{}"}}"#,
            hpp_core::__private::time::format_rfc3339(at(expires))
        );
        let created: hpp_core::SessionCreated = serde_json::from_str(&body).expect("a creation answer parses");
        let track = Input::Track { session_id: s, expires_at: created.expires_at_time(), order_key: None };
        self.apply(track, START).await.unwrap();
        assert_eq!(self.state(s).await.expect("tracked").expires_at(), at(expires), "{CHECK}");
    }

    async fn a_step_under_way_makes_others_busy_and_an_abandoned_one_commits_nothing(&self) {
        const CHECK: &str = "a_step_under_way_makes_others_busy_and_an_abandoned_one_commits_nothing";
        let s = "kit-busy-s1";
        self.apply(Input::Track { session_id: s, expires_at: None, order_key: None }, START).await.unwrap();
        let paid = session("COMPLETED");
        let paid = Input::Read { session_id: s, result: Ok(&paid) };
        let event = callback("kit-busy-e1", s, "IN_PROGRESS", START + 1);
        self.hang_until_started(paid, START + 1, async {
            let again = self.apply(paid, START + 2).await.unwrap();
            assert_eq!(again, Applied::Busy, "{CHECK}: another step of the session is neither run nor done");
            let again = self.apply(Input::Callback(&event), START + 2).await.unwrap();
            assert_eq!(again, Applied::Busy, "{CHECK}: nor a callback's");
        })
        .await;
        // The slow step was dropped (a receiver's deadline): nothing of it committed.
        assert_eq!(self.state(s).await.and_then(|s| s.final_status()), None, "{CHECK}: nothing committed");
        let retried = self.apply_when_free(paid, START + 3).await.unwrap();
        assert_eq!(retried, Applied::Done { handed_off: Some(FinalStatus::Completed) }, "{CHECK}: the retry");
        assert_eq!(self.handed(s).await, ["COMPLETED"], "{CHECK}");
    }

    /// Applies `input` with a hanging app until its work has started, runs `meanwhile`, then
    /// drops the step (a crash, or a deadline) and lets the app work again.
    async fn hang_until_started(&self, input: Input<'_>, now: u64, meanwhile: impl Future<Output = ()>) -> bool {
        self.app.hang.store(true, Ordering::SeqCst);
        self.app.hung.store(false, Ordering::SeqCst);
        let started = {
            let mut slow = pin!(self.apply(input, now));
            let started = std::future::poll_fn(|cx| match slow.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(false),
                Poll::Pending if self.app.hung.load(Ordering::SeqCst) => Poll::Ready(true),
                Poll::Pending => Poll::Pending,
            })
            .await;
            if started {
                meanwhile.await;
            }
            started
        };
        self.app.hang.store(false, Ordering::SeqCst);
        started
    }

    /// Four sessions, each with a history ending in a final status or in nothing (left to
    /// expire); callbacks delivered in any order, duplicated or never; steps abandoned midway; a
    /// poller claiming and reading due sessions (the service's truth: the last status, or 404
    /// once expired); the app failing at times. The app's books hold each session's final
    /// status at most once, exactly once when the store says it was handed off, and never an
    /// early "expired" for a session that ended otherwise.
    async fn interleaving(&self, seed: u64) {
        const CHECK: &str = "interleaving";
        const ENDINGS: [Option<&str>; 5] =
            [None, Some("COMPLETED"), Some("CANCELLED"), Some("DISABLED"), Some("TIMEOUT")];
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let case = format!("kit-mix{seed}");
        let lifetime = 100_000;
        let start = START + 5_000_000 + (seed % 1000) * 1_000_000;
        let ids: Vec<String> = (0..4).map(|s| format!("{case}-s{s}")).collect();
        let endings: Vec<Option<&str>> = (0..4).map(|_| ENDINGS[rng.below(5) as usize]).collect();
        let histories: Vec<Vec<&str>> = endings
            .iter()
            .map(|end| {
                let mut history = vec!["IN_PROGRESS", "BACK", "IN_PROGRESS"];
                history.extend(end);
                history
            })
            .collect();
        for id in &ids {
            let track = Input::Track { session_id: id, expires_at: Some(at(start + lifetime)), order_key: None };
            self.apply(track, start).await.unwrap_or_else(|e| panic!("{CHECK} {seed}: track: {e}"));
        }
        let mut now = start;
        let mut log = Vec::new();
        for _ in 0..rng.below(50) {
            match rng.below(12) {
                0..=5 => {
                    let (s, n) = (rng.below(4) as usize, rng.below(4) as usize);
                    let Some(status) = histories[s].get(n) else { continue };
                    let event = callback(&format!("{case}-e{s}-{n}"), &ids[s], status, start + n as u64);
                    log.push(format!("deliver {s} {status} at {now}"));
                    let _ = self.apply(Input::Callback(&event), now).await;
                }
                6 => {
                    let (s, n) = (rng.below(4) as usize, rng.below(4) as usize);
                    let Some(status) = histories[s].get(n) else { continue };
                    let event = callback(&format!("{case}-e{s}-{n}"), &ids[s], status, start + n as u64);
                    log.push(format!("abandon {s} {status} at {now}"));
                    let _ = self.hang_until_started(Input::Callback(&event), now, async {}).await;
                }
                7 => {
                    let failing = rng.below(2) == 0;
                    log.push(format!("failing {failing}"));
                    self.app.failing.store(failing, Ordering::SeqCst);
                }
                _ => {
                    let target = now + 1 + rng.below(50_000);
                    log.push(format!("advance to {target}"));
                    loop {
                        self.poll(&ids, &histories, now, start + lifetime).await;
                        let mut next: Option<u64> = None;
                        for id in &ids {
                            let due = self.state(id).await.and_then(|s| s.next_due_at());
                            let due = due.map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
                            if let Some(due) = due.filter(|t| *t > now) {
                                next = Some(next.map_or(due, |n| n.min(due)));
                            }
                        }
                        match next {
                            Some(next) if next <= target => now = next,
                            _ => break,
                        }
                    }
                    now = target;
                }
            }
        }
        self.app.failing.store(false, Ordering::SeqCst);
        for (s, ending) in endings.iter().enumerate() {
            let id = &ids[s];
            let mut handed = self.handed(id).await;
            // A late payment comes after the expiry it follows: the one pair allowed.
            if handed == ["COMPLETED_AFTER_EXPIRED", "EXPIRED"] {
                handed.remove(1);
            }
            assert!(handed.len() <= 1, "{CHECK} {seed}: {id} handed off {handed:?}; {log:?}");
            let state = self.state(id).await.expect("tracked");
            let stored = state.final_status().filter(|_| state.is_handed_off()).map(|f| f.as_str().to_owned());
            assert_eq!(handed.first(), stored.as_ref(), "{CHECK} {seed}: {id}: the books are the store's; {log:?}");
            if let (Some(status), Some(ending)) = (state.final_status(), ending) {
                let shown = if status == FinalStatus::CompletedAfterExpired { "COMPLETED" } else { status.as_str() };
                assert_eq!(shown, *ending, "{CHECK} {seed}: {id} ended early; {log:?}");
            }
        }
    }

    /// A poller's round at `now`: claims the due sessions and steps each (expiring those past
    /// giving up, reading the others).
    async fn poll(&self, ids: &[String], histories: &[Vec<&str>], now: u64, expires: u64) {
        let Ok(due) = self.store.claim_due("kit-poller", 10_000, Duration::from_secs(60), at(now)).await else {
            return;
        };
        let gone = read_error(404);
        for due in due {
            let Some(s) = ids.iter().position(|id| id == due.session_id()) else { continue };
            match due {
                Due::Expire(_) => {
                    let _ = self.apply(Input::Tick { session_id: &ids[s] }, now).await;
                }
                _ => {
                    let read = session(histories[s].last().copied().unwrap_or("WAITING"));
                    let result = if now >= expires { Err(&gone) } else { Ok(&read) };
                    let _ = self.apply(Input::Read { session_id: &ids[s], result }, now).await;
                }
            }
        }
    }
}

/// xorshift64*: the kit's interleavings from a seed, the same on every store and every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
