//! [`MemoryStore`]: the tracking store of one process, the embedded default.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::step::{Commit, Step};
use super::store::{Applied, Counts, Due, HandOff, Input, StoreError, TrackingStore};
use super::{FinalStatus, Standing, TrackedSession, TrackingPolicy};
use crate::dedup::Deduplicator;

/// Tracked sessions in this process's memory: for one process that need not survive a restart
/// (a demo, a test, a single-instance tool). Everything is lost when the process ends; several
/// replicas each have their own. Use a durable store (`hpp-postgres`) in production.
///
/// A step that hands off a final status holds its session busy while the hand-off runs (a
/// concurrent step of the same session is [`Applied::Busy`]); if the step's future is dropped
/// midway, nothing of it is committed and the session is free again. Event ids are remembered up to a
/// bound (100,000 by default, oldest forgotten first); sessions stay until
/// [`prune`](TrackingStore::prune) (by [`TrackingPolicy::retention`]) or
/// [`forget_handed_off`](Self::forget_handed_off).
#[derive(Debug)]
pub struct MemoryStore {
    policy: TrackingPolicy,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    sessions: HashMap<String, Entry>,
    events: Deduplicator,
    /// Sessions whose step runs the app's work now, and the orders of those sessions.
    busy: HashSet<String>,
    busy_orders: HashSet<String>,
    /// Each order's sessions.
    orders: HashMap<String, HashSet<String>>,
    /// Orders whose paid session was forgotten.
    paid_orders: HashSet<String>,
    /// No claims before this (the API rate-limited a read).
    paused_until: Option<SystemTime>,
    /// The read budget's tokens, and when (`TrackingPolicy::read_allowance`).
    read_tokens: Option<(f64, SystemTime)>,
}

#[derive(Debug)]
struct Entry {
    state: TrackedSession,
    claimed_until: Option<SystemTime>,
    /// When its final status was handed off: [`TrackingStore::prune`] goes by it.
    handed_off_at: Option<SystemTime>,
    /// When it started being tracked.
    tracked_at: SystemTime,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(TrackingPolicy::default())
    }
}

impl MemoryStore {
    /// An empty store reading sessions on `policy`.
    pub fn new(policy: TrackingPolicy) -> Self {
        Self::with_event_capacity(policy, 100_000)
    }

    /// An empty store remembering up to `events` callback event ids.
    pub fn with_event_capacity(policy: TrackingPolicy, events: usize) -> Self {
        let inner = Inner {
            sessions: HashMap::new(),
            events: Deduplicator::new(events),
            busy: HashSet::new(),
            busy_orders: HashSet::new(),
            orders: HashMap::new(),
            paid_orders: HashSet::new(),
            paused_until: None,
            read_tokens: None,
        };
        Self { policy, inner: Mutex::new(inner) }
    }

    /// The policy sessions are read on.
    pub fn policy(&self) -> &TrackingPolicy {
        &self.policy
    }

    /// Forgets the sessions whose final status was handed off (their event ids stay remembered
    /// up to the bound, and so do the orders they paid; a final status not handed off yet is
    /// kept); returns how many were forgotten.
    pub fn forget_handed_off(&self) -> usize {
        self.lock().forget(|_| true, usize::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Frees a busy session when the step ends, whichever way (including a dropped future).
struct BusyGuard<'a> {
    store: &'a MemoryStore,
    session_id: String,
    order_key: Option<String>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut inner = self.store.lock();
        inner.busy.remove(&self.session_id);
        if let Some(order_key) = &self.order_key {
            inner.busy_orders.remove(order_key);
        }
    }
}

impl Inner {
    /// Forgets up to `max` handed-off sessions `chosen` picks (the orders they paid stay known);
    /// returns how many.
    fn forget(&mut self, chosen: impl Fn(&Entry) -> bool, max: usize) -> usize {
        let Self { sessions, orders, paid_orders, .. } = self;
        let gone: Vec<String> = sessions
            .iter()
            .filter(|(_, entry)| entry.state.is_handed_off() && chosen(entry))
            .map(|(id, _)| id.clone())
            .take(max)
            .collect();
        for id in &gone {
            let Some(entry) = sessions.remove(id) else { continue };
            if let Some(key) = entry.state.order_key() {
                if is_payment(entry.state.final_status()) {
                    paid_orders.insert(key.to_owned());
                }
                if let Some(siblings) = orders.get_mut(key) {
                    siblings.remove(id);
                }
            }
        }
        gone.len()
    }

    /// Whether another session of `order_key` was handed off as paid.
    fn order_paid(&self, order_key: Option<&str>, session_id: &str) -> bool {
        let Some(key) = order_key else { return false };
        let siblings = self.orders.get(key).into_iter().flatten().filter(|id| *id != session_id);
        self.paid_orders.contains(key)
            || siblings
                .filter_map(|id| self.sessions.get(id))
                .any(|entry| entry.state.is_handed_off() && is_payment(entry.state.final_status()))
    }
}

/// Whether a final status is a payment.
fn is_payment(status: Option<FinalStatus>) -> bool {
    matches!(status, Some(FinalStatus::Completed | FinalStatus::CompletedAfterExpired | FinalStatus::CompletedTwice))
}

impl TrackingStore for MemoryStore {
    /// Nothing to write through (the app's own state is its own business): the step commits
    /// when the hand-off returns `Ok`.
    type Tx = ();

    async fn apply<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        input: Input<'a>,
        now: SystemTime,
        hand_off: &'a H,
    ) -> Result<Applied, StoreError> {
        let session_id = input.session_id().to_owned();
        let step = {
            let mut inner = self.lock();
            let loaded = inner.sessions.get(&session_id).map(|entry| &entry.state);
            let order_key = match (loaded, &input) {
                (Some(state), _) => state.order_key().map(str::to_owned),
                (None, Input::Track { order_key, .. }) => order_key.map(str::to_owned),
                (None, _) => None,
            };
            // One step at a time per session, and per order (so that two of its sessions are
            // never handed off as paid at once).
            if inner.busy.contains(&session_id) || order_key.as_ref().is_some_and(|key| inner.busy_orders.contains(key))
            {
                return Ok(Applied::Busy);
            }
            let seen = matches!(&input, Input::Callback(callback) if inner.events.contains(&callback.event_id));
            let order_paid = inner.order_paid(order_key.as_deref(), &session_id);
            let step = match Step::decide(loaded, seen, order_paid, input, now, &self.policy) {
                Ok(step) => step,
                Err(answer) => return Ok(answer),
            };
            if step.new_event().is_none() && step.finished().is_none() {
                return write(&mut inner, &session_id, step.commit(Ok(())), now);
            }
            inner.busy.insert(session_id.clone());
            if let Some(key) = &order_key {
                inner.busy_orders.insert(key.clone());
            }
            (step, order_key)
        };
        let (step, order_key) = step;
        let _busy = BusyGuard { store: self, session_id: session_id.clone(), order_key };
        let result = step.run_app::<Self, H>(hand_off, &mut ()).await;
        let commit = step.commit(result);
        write(&mut self.lock(), &session_id, commit, now)
    }

    async fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<Due>, StoreError> {
        let _ = owner; // One process: the lease alone keeps two claims apart.
        let mut inner = self.lock();
        if inner.paused_until.is_some_and(|until| now < until) {
            return Ok(Vec::new());
        }
        let (allowed, tokens) = self.policy.read_allowance(inner.read_tokens, now);
        let Inner { sessions, busy, read_tokens, .. } = &mut *inner;
        let mut due: Vec<(&String, &mut Entry)> = sessions
            .iter_mut()
            .filter(|(id, entry)| {
                entry.state.is_due(now) && entry.claimed_until.is_none_or(|until| until <= now) && !busy.contains(*id)
            })
            .collect();
        due.sort_by_key(|(_, entry)| entry.state.claim_order());
        let claimed: Vec<Due> = due
            .into_iter()
            .take(max.min(allowed))
            .map(|(_, entry)| {
                entry.claimed_until = Some(now.checked_add(lease).unwrap_or(now));
                Due::of(&entry.state, now, &self.policy)
            })
            .collect();
        if self.policy.max_reads_per_second.is_some() {
            *read_tokens = Some((tokens - claimed.len() as f64, now));
        }
        Ok(claimed)
    }

    async fn pause_reads(&self, until: SystemTime) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.paused_until = Some(inner.paused_until.map_or(until, |kept| kept.max(until)));
        Ok(())
    }

    async fn get<'a>(&'a self, session_id: &'a str) -> Result<Option<TrackedSession>, StoreError> {
        Ok(self.lock().sessions.get(session_id).map(|entry| entry.state.clone()))
    }

    async fn order_sessions<'a>(&'a self, order_key: &'a str) -> Result<Vec<TrackedSession>, StoreError> {
        let inner = self.lock();
        let ids = inner.orders.get(order_key).into_iter().flatten();
        Ok(ids.filter_map(|id| inner.sessions.get(id)).map(|entry| entry.state.clone()).collect())
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        let inner = self.lock();
        Ok(inner.sessions.values().filter(|entry| !entry.state.is_handed_off()).count() as u64)
    }

    async fn counts(&self, now: SystemTime) -> Result<Counts, StoreError> {
        let inner = self.lock();
        let mut counts = Counts::default();
        for entry in inner.sessions.values() {
            let state = &entry.state;
            match state.standing() {
                Standing::HandedOff => counts.handed_off += 1,
                Standing::Waiting => counts.waiting += 1,
                Standing::Parked => counts.parked += 1,
                Standing::HandOffDue => counts.hand_off_due += 1,
            }
            if !state.is_handed_off() {
                let claimed = entry.claimed_until.is_some_and(|until| until > now);
                counts.due += u64::from(state.is_due(now) && !claimed);
                let since = counts.oldest_pending_since.get_or_insert(entry.tracked_at);
                *since = (*since).min(entry.tracked_at);
            }
        }
        Ok(counts)
    }

    /// Sessions only: the event ids are bounded by count ([`with_event_capacity`](Self::with_event_capacity)).
    async fn prune(&self, now: SystemTime, max: usize) -> Result<u64, StoreError> {
        let before = now.checked_sub(self.policy.retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let forgotten = self.lock().forget(|entry| entry.handed_off_at.is_some_and(|at| at < before), max);
        Ok(forgotten as u64)
    }
}

/// Writes what the step's [`Commit`] says (the app's work is the app's own: nothing to undo
/// here) and answers its outcome.
fn write(inner: &mut Inner, session_id: &str, commit: Commit<'_>, now: SystemTime) -> Result<Applied, StoreError> {
    let Some(state) = commit.state else { return commit.outcome };
    let handed_off_at = state.is_handed_off().then_some(now);
    if let Some(callback) = commit.event {
        inner.events.first_time(&callback.event_id);
    }
    match inner.sessions.get_mut(session_id) {
        Some(entry) => {
            entry.handed_off_at = entry.handed_off_at.or(handed_off_at).filter(|_| state.is_handed_off());
            entry.state = state;
            if commit.release_claim {
                entry.claimed_until = None;
            }
        }
        None => {
            if let Some(order_key) = state.order_key() {
                inner.orders.entry(order_key.to_owned()).or_default().insert(session_id.to_owned());
            }
            let entry = Entry { state, claimed_until: None, handed_off_at, tracked_at: now };
            inner.sessions.insert(session_id.to_owned(), entry);
        }
    }
    commit.outcome
}
