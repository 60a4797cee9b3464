//! `status_update` callbacks: the body Kustom POSTs to the merchant on every status change, the
//! check of the secret the merchant embedded in the callback URL, and de-duplication by
//! `event_id`. Pure: the web framework does the I/O.
//!
//! ```
//! use hpp_core::callback::{CallbackSecret, Deduplicator, parse};
//!
//! let secret = CallbackSecret::new("7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11")?;
//! // Registered as merchant_urls.status_update:
//! let url = secret.append_to("https://shop.example/hpp/callback?sid={{session_id}}");
//! assert!(url.ends_with("&secret=7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11"));
//!
//! // In the handler:
//! let request_uri = "/hpp/callback?sid=s1&secret=7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11";
//! assert!(secret.verify_uri(request_uri));
//! let body = br#"{"event_id":"e1","session":{"session_id":"s1","status":"COMPLETED"}}"#;
//! let callback = parse(body).unwrap();
//! let mut seen = Deduplicator::new(10_000);
//! assert!(seen.first_time(&callback.event_id));
//! assert!(!seen.first_time(&callback.event_id)); // a retry of the same event
//! # Ok::<(), hpp_core::callback::SecretError>(())
//! ```

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::model::Session;

/// The query parameter [`CallbackSecret::append_to`] adds and [`CallbackSecret::verify_uri`] reads.
pub const SECRET_PARAM: &str = "secret";

/// The shortest secret [`CallbackSecret::new`] accepts, in characters (16 random characters of
/// the URL-safe alphabet are about 96 bits; a UUID or 32 hex digits are better).
pub const MIN_SECRET_LEN: usize = 16;

/// The longest secret accepted, in characters.
pub const MAX_SECRET_LEN: usize = 256;

/// The longest `event_id` [`parse`] accepts, in bytes (the service's ids are UUIDs).
pub const MAX_EVENT_ID_LEN: usize = 128;

/// The body of a `status_update` callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusCallback {
    /// The event's id, for de-duplication (retried deliveries repeat it).
    pub event_id: String,
    /// The session, in the same shape as a read.
    #[serde(default)]
    pub session: Session,
}

/// Why a callback was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The body is not a callback (the reason has the line and column).
    #[error("not a status callback: {0}")]
    Malformed(String),
    /// The `event_id` is missing or empty, so duplicates could not be recognised.
    #[error("the callback has no event_id")]
    MissingEventId,
    /// The `event_id` is longer than [`MAX_EVENT_ID_LEN`] bytes.
    #[error("the callback's event_id is longer than {MAX_EVENT_ID_LEN} bytes")]
    EventIdTooLong,
}

/// Why a callback secret was refused: it would let forged callbacks through, or break the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Empty or shorter than [`MIN_SECRET_LEN`] (an unset environment variable often expands to "").
    #[error("the callback secret is {len} characters; at least {MIN_SECRET_LEN} are needed")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Longer than [`MAX_SECRET_LEN`].
    #[error("the callback secret is longer than {MAX_SECRET_LEN} characters")]
    TooLong,
    /// A character outside `A-Z a-z 0-9 - . _ ~`, which would need escaping in the URL.
    #[error("the callback secret may only hold A-Z a-z 0-9 - . _ ~")]
    NotUrlSafe,
}

/// Parses a callback body. Unknown fields are ignored and unknown statuses kept.
pub fn parse(body: &[u8]) -> Result<StatusCallback, CallbackError> {
    #[derive(Deserialize)]
    struct Wire {
        event_id: Option<String>,
        #[serde(default)]
        session: Session,
    }
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(crate::redact::scrub(&e.to_string())))?;
    match wire.event_id {
        Some(event_id) if event_id.len() > MAX_EVENT_ID_LEN => Err(CallbackError::EventIdTooLong),
        Some(event_id) if !event_id.is_empty() => Ok(StatusCallback { event_id, session: wire.session }),
        _ => Err(CallbackError::MissingEventId),
    }
}

/// `uri` with the value of every [`SECRET_PARAM`] query parameter replaced by `<redacted>`, for
/// logs and listings.
pub fn redact_secret(uri: &str) -> String {
    let Some((head, query)) = uri.split_once('?') else { return uri.to_owned() };
    let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((SECRET_PARAM, _)) => format!("{SECRET_PARAM}={}", crate::redact::REDACTED),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{head}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Whether `a == b`, in time that depends on their lengths only, not on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The secret a merchant embeds in its `status_update` URL, since callbacks carry no signature.
/// Compared in constant time; zeroed on drop; never shown by `Debug`.
#[derive(Clone)]
pub struct CallbackSecret(Zeroizing<String>);

impl CallbackSecret {
    /// A secret: generate it randomly (at least 128 bits), from the URL-safe characters
    /// `A-Z a-z 0-9 - . _ ~`, between [`MIN_SECRET_LEN`] and [`MAX_SECRET_LEN`] long. An empty
    /// or short secret is refused: with one, a forged callback could pass [`verify_uri`](Self::verify_uri).
    pub fn new(secret: impl Into<String>) -> Result<Self, SecretError> {
        let secret = Zeroizing::new(secret.into());
        let len = secret.chars().count();
        if len < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len });
        }
        if len > MAX_SECRET_LEN {
            return Err(SecretError::TooLong);
        }
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            return Err(SecretError::NotUrlSafe);
        }
        Ok(Self(secret))
    }

    /// `url` with `secret=<secret>` appended to its query.
    pub fn append_to(&self, url: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{SECRET_PARAM}={}", self.0.as_str())
    }

    /// Whether `presented` is the secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// Whether the request URI (path and query, or absolute) carries the secret in its
    /// [`SECRET_PARAM`] query parameter, exactly once.
    pub fn verify_uri(&self, uri: &str) -> bool {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or_default();
        let mut values = query.split('&').filter_map(|pair| pair.strip_prefix(SECRET_PARAM)?.strip_prefix('='));
        match (values.next(), values.next()) {
            (Some(value), None) => self.matches(value),
            _ => false,
        }
    }
}

impl fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSecret(<redacted>)")
    }
}

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
    /// [`MAX_EVENT_ID_LEN`] bytes of ids.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self::with_limits(capacity, capacity.saturating_mul(MAX_EVENT_ID_LEN))
    }

    /// Remembers up to `capacity` ids (at least one) holding at most `max_bytes` bytes together
    /// (at least one id's worth).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(MAX_EVENT_ID_LEN),
            bytes: 0,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// `true` the first time `event_id` is seen (among the ids remembered). An id longer than
    /// [`MAX_EVENT_ID_LEN`] is not remembered (and [`parse`] refuses it), so it is always `true`.
    pub fn first_time(&mut self, event_id: &str) -> bool {
        if self.seen.contains(event_id) {
            return false;
        }
        if event_id.len() > MAX_EVENT_ID_LEN {
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

    /// Forgets `event_id`, so that its next delivery counts as the first: for an event that could
    /// not be handed on after all (the listener then answers non-2xx, and the service retries).
    pub fn forget(&mut self, event_id: &str) {
        if let Some(at) = self.order.iter().position(|id| &**id == event_id)
            && let Some(id) = self.order.remove(at)
        {
            self.bytes -= id.len();
            self.seen.remove(&id);
        }
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
