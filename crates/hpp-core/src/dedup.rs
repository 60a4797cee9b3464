//! [`Deduplicator`]: recent callback event ids, bounded: the tracker's memory store's record of
//! the events applied.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::callback::StatusCallback;

/// Remembers recent event ids, to drop callbacks delivered more than once (the service retries
/// when an answer is slow, so duplicates are normal). Memory is bounded by count and by bytes:
/// the oldest id is forgotten first when either bound would be passed. Each id is stored once.
#[derive(Debug, Clone)]
pub struct Deduplicator {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    seen: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
}

impl Deduplicator {
    /// Remembers up to `capacity` ids (at least one), in at most `capacity` x
    /// [`StatusCallback::MAX_EVENT_ID_LEN`] bytes of ids.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self::with_limits(capacity, capacity.saturating_mul(StatusCallback::MAX_EVENT_ID_LEN))
    }

    /// Remembers up to `capacity` ids (at least one) holding at most `max_bytes` bytes together
    /// (at least one id's worth).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(StatusCallback::MAX_EVENT_ID_LEN),
            bytes: 0,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// `true` the first time `event_id` is seen (among the ids remembered). An id longer than
    /// [`StatusCallback::MAX_EVENT_ID_LEN`] is not remembered (and [`StatusCallback::parse`] refuses it), so it is always `true`.
    pub fn first_time(&mut self, event_id: &str) -> bool {
        if self.seen.contains(event_id) {
            return false;
        }
        if event_id.len() > StatusCallback::MAX_EVENT_ID_LEN {
            return true;
        }
        while self.order.len() >= self.capacity || self.bytes + event_id.len() > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else { break };
            self.bytes -= oldest.len();
            self.seen.remove(&oldest);
        }
        let id: Arc<str> = Arc::from(event_id);
        self.bytes += id.len();
        self.seen.insert(id.clone());
        self.order.push_back(id);
        true
    }

    /// Whether `event_id` is among the ids remembered (without remembering it).
    pub fn contains(&self, event_id: &str) -> bool {
        self.seen.contains(event_id)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// How many bytes of ids are remembered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
