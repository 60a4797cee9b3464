//! [`MemoryStore`]: the tracking store of one process, the embedded default.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::step::{Commit, Step};
use super::store::{Applied, Due, HandOff, Input, StoreError, TrackingStore};
use super::{TrackedSession, TrackingPolicy};
use crate::dedup::Deduplicator;

/// Tracked sessions in this process's memory: for one process that need not survive a restart
/// (a demo, a test, a single-instance tool). Everything is lost when the process ends; several
/// replicas each have their own. Use a durable store (`hpp-postgres`) in production.
///
/// A step that hands off a final status holds its session busy while the hand-off runs (a
/// concurrent step of the same session is [`Applied::Busy`]); if the step's future is dropped
/// midway, nothing of it is committed and the session is free again. Event ids are remembered up to a
/// bound (100,000 by default, oldest forgotten first); sessions stay until
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
    busy: HashSet<String>,
}

#[derive(Debug)]
struct Entry {
    state: TrackedSession,
    claimed_until: Option<SystemTime>,
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
        let inner = Inner { sessions: HashMap::new(), events: Deduplicator::new(events), busy: HashSet::new() };
        Self { policy, inner: Mutex::new(inner) }
    }

    /// The policy sessions are read on.
    pub fn policy(&self) -> &TrackingPolicy {
        &self.policy
    }

    /// Forgets the sessions whose final status was handed off (their event ids stay remembered
    /// up to the bound; a final status not handed off yet is kept); returns how many were
    /// forgotten.
    pub fn forget_handed_off(&self) -> usize {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, entry| !entry.state.is_handed_off());
        before - inner.sessions.len()
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
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.store.lock().busy.remove(&self.session_id);
    }
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
            if inner.busy.contains(&session_id) {
                return Ok(Applied::Busy);
            }
            let loaded = inner.sessions.get(&session_id).map(|entry| &entry.state);
            let seen = matches!(&input, Input::Callback(callback) if inner.events.contains(&callback.event_id));
            let step = match Step::decide(loaded, seen, input, now, &self.policy) {
                Ok(step) => step,
                Err(answer) => return Ok(answer),
            };
            if step.new_event().is_none() && step.finished().is_none() {
                return write(&mut inner, &session_id, step.commit(Ok(())));
            }
            inner.busy.insert(session_id.clone());
            step
        };
        let _busy = BusyGuard { store: self, session_id: session_id.clone() };
        let result = step.run_app::<Self, H>(hand_off, &mut ()).await;
        let commit = step.commit(result);
        write(&mut self.lock(), &session_id, commit)
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
        let Inner { sessions, busy, .. } = &mut *inner;
        let mut due: Vec<(&String, &mut Entry)> = sessions
            .iter_mut()
            .filter(|(id, entry)| {
                entry.state.is_due(now) && entry.claimed_until.is_none_or(|until| until <= now) && !busy.contains(*id)
            })
            .collect();
        due.sort_by_key(|(_, entry)| entry.state.next_due_at());
        Ok(due
            .into_iter()
            .take(max)
            .map(|(_, entry)| {
                entry.claimed_until = Some(now.checked_add(lease).unwrap_or(now));
                Due::of(&entry.state, now, &self.policy)
            })
            .collect())
    }

    async fn get<'a>(&'a self, session_id: &'a str) -> Result<Option<TrackedSession>, StoreError> {
        Ok(self.lock().sessions.get(session_id).map(|entry| entry.state.clone()))
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        let inner = self.lock();
        Ok(inner.sessions.values().filter(|entry| !entry.state.is_handed_off()).count() as u64)
    }
}

/// Writes what the step's [`Commit`] says (the app's work is the app's own: nothing to undo
/// here) and answers its outcome.
fn write(inner: &mut Inner, session_id: &str, commit: Commit<'_>) -> Result<Applied, StoreError> {
    let Some(state) = commit.state else { return commit.outcome };
    if let Some(callback) = commit.event {
        inner.events.first_time(&callback.event_id);
    }
    match inner.sessions.get_mut(session_id) {
        Some(entry) => {
            entry.state = state;
            if commit.release_claim {
                entry.claimed_until = None;
            }
        }
        None => {
            inner.sessions.insert(session_id.to_owned(), Entry { state, claimed_until: None });
        }
    }
    commit.outcome
}
