//! [`MemoryStore`]: the tracking store of one process, the embedded default.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::store::{Applied, HandOff, Input, StoreError, TrackingStore, Transition};
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

    /// The stored state of `session_id`, if tracked.
    pub fn get(&self, session_id: &str) -> Option<TrackedSession> {
        self.lock().sessions.get(session_id).map(|entry| entry.state.clone())
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
        let (mut transition, new_event) = {
            let mut inner = self.lock();
            if inner.busy.contains(&session_id) {
                return Ok(Applied::Busy);
            }
            let loaded = inner.sessions.get(&session_id).map(|entry| &entry.state);
            let (seen, new_event) = match &input {
                Input::Callback(callback) if inner.events.contains(&callback.event_id) => (true, None),
                Input::Callback(callback) => (false, Some(*callback)),
                _ => (false, None),
            };
            if seen && loaded.is_none_or(|state| state.hand_off_due().is_none()) {
                return Ok(Applied::Duplicate);
            }
            let Some(transition) = Transition::new(loaded, &input, now, &self.policy) else {
                return Ok(Applied::Unknown);
            };
            if transition.finished.is_none() && new_event.is_none() {
                let release = transition.releases_claim(&input);
                commit(&mut inner, &session_id, None, transition.state, release);
                return Ok(Applied::Done { handed_off: None });
            }
            inner.busy.insert(session_id.clone());
            (transition, new_event)
        };
        let _busy = BusyGuard { store: self, session_id: session_id.clone() };
        let finished = transition.finished.take();
        let result = hand_off.run_step(&(), new_event, finished.as_ref()).await;
        let mut inner = self.lock();
        let event_id = new_event.map(|callback| callback.event_id.as_str());
        match result {
            Ok(()) => {
                transition.state.handed_off();
                let release = transition.releases_claim(&input);
                commit(&mut inner, &session_id, event_id, transition.state, release);
                Ok(Applied::Done { handed_off: finished.map(|f| f.status) })
            }
            Err(e) => {
                // What was learned is kept; the event is not recorded, so its retry runs again.
                transition.state.hand_off_failed(now, &self.policy);
                let release = transition.releases_claim(&input);
                commit(&mut inner, &session_id, None, transition.state, release);
                Err(StoreError::HandOff(e))
            }
        }
    }

    async fn claim_due<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        owner: &'a str,
        max: usize,
        lease: Duration,
        now: SystemTime,
        hand_off: &'a H,
    ) -> Result<Vec<String>, StoreError> {
        let _ = owner; // One process: the lease alone keeps two claims apart.
        // Each due session, and whether it is past giving up.
        let due: Vec<(String, bool)> = {
            let inner = self.lock();
            let mut due: Vec<(&String, SystemTime, bool)> = inner
                .sessions
                .iter()
                .filter(|(id, entry)| {
                    entry.state.is_due(now)
                        && entry.claimed_until.is_none_or(|until| until <= now)
                        && !inner.busy.contains(*id)
                })
                .filter_map(|(id, entry)| {
                    let gives_up = entry.state.gives_up_at(&self.policy).is_some_and(|at| now >= at);
                    Some((id, entry.state.next_due_at()?, gives_up))
                })
                .collect();
            due.sort_by_key(|(_, at, _)| *at);
            due.into_iter().map(|(id, _, gives_up)| (id.clone(), gives_up)).collect()
        };
        let mut claimed = Vec::new();
        for (session_id, gives_up) in due {
            if claimed.len() >= max {
                break;
            }
            if gives_up {
                match self.apply(Input::Tick { session_id: &session_id }, now, hand_off).await {
                    Ok(_) | Err(StoreError::HandOff(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            let mut inner = self.lock();
            if let Some(entry) = inner.sessions.get_mut(&session_id) {
                entry.claimed_until = Some(now.checked_add(lease).unwrap_or(now));
                claimed.push(session_id);
            }
        }
        Ok(claimed)
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        let inner = self.lock();
        Ok(inner.sessions.values().filter(|entry| !entry.state.is_handed_off()).count() as u64)
    }
}

/// Stores `state` (and the applied event's id); `release` ends a poller's claim.
fn commit(inner: &mut Inner, session_id: &str, event_id: Option<&str>, state: TrackedSession, release: bool) {
    if let Some(event_id) = event_id {
        inner.events.first_time(event_id);
    }
    match inner.sessions.get_mut(session_id) {
        Some(entry) => {
            entry.state = state;
            if release {
                entry.claimed_until = None;
            }
        }
        None => {
            inner.sessions.insert(session_id.to_owned(), Entry { state, claimed_until: None });
        }
    }
}
