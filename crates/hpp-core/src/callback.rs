//! `status_update` callbacks: the body Kustom POSTs to the merchant on every status change, and
//! the check of the secret the merchant embedded in the callback URL. Pure: the web framework
//! does the I/O. Applying callbacks exactly once, by `event_id`, is the tracker's job
//! ([`tracking`](crate::tracking)).
//!
//! ```
//! use hpp_core::callback::{CallbackSecret, StatusCallback};
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
//! let callback = StatusCallback::parse(body).unwrap();
//! assert_eq!(callback.event_id, "e1"); // the same on each retry of the event
//! # Ok::<(), hpp_core::InputError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::InputError;
use crate::model::Session;

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

impl StatusCallback {
    /// The longest `event_id` [`parse`](Self::parse) accepts, in bytes (the service's ids are
    /// UUIDs).
    pub const MAX_EVENT_ID_LEN: usize = 128;

    /// Parses a callback body. Unknown fields are ignored and unknown statuses kept. Refused
    /// ([`InputError::InvalidCallback`]): a body that is not a callback, or an `event_id` that is
    /// missing, empty (duplicates could not be recognised) or longer than
    /// [`MAX_EVENT_ID_LEN`](Self::MAX_EVENT_ID_LEN).
    pub fn parse(body: &[u8]) -> Result<Self, InputError> {
        #[derive(Deserialize)]
        struct Wire {
            event_id: Option<String>,
            #[serde(default)]
            session: Session,
        }
        let wire: Wire = serde_json::from_slice(body).map_err(|e| InputError::InvalidCallback {
            reason: format!("not a status callback: {}", crate::redact::scrub(&e.to_string())),
        })?;
        match wire.event_id {
            Some(event_id) if event_id.len() > Self::MAX_EVENT_ID_LEN => Err(InputError::InvalidCallback {
                reason: format!("its event_id is longer than {} bytes", Self::MAX_EVENT_ID_LEN),
            }),
            Some(event_id) if !event_id.is_empty() => Ok(Self { event_id, session: wire.session }),
            _ => Err(InputError::InvalidCallback { reason: "it has no event_id".to_owned() }),
        }
    }
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
    /// The query parameter [`append_to`](Self::append_to) adds and
    /// [`verify_uri`](Self::verify_uri) reads.
    pub const QUERY_PARAM: &str = "secret";

    /// The shortest secret [`new`](Self::new) accepts, in characters (16 random characters of the
    /// URL-safe alphabet are about 96 bits; a UUID or 32 hex digits are better).
    pub const MIN_LEN: usize = 16;

    /// The longest secret accepted, in characters.
    pub const MAX_LEN: usize = 256;

    /// A secret: generate it randomly (at least 128 bits), from the URL-safe characters
    /// `A-Z a-z 0-9 - . _ ~`, between [`MIN_LEN`](Self::MIN_LEN) and [`MAX_LEN`](Self::MAX_LEN) long. An empty
    /// or short secret is refused: with one, a forged callback could pass [`verify_uri`](Self::verify_uri).
    pub fn new(secret: impl Into<String>) -> Result<Self, InputError> {
        let secret = Zeroizing::new(secret.into());
        let len = secret.chars().count();
        let refuse = |reason| Err(InputError::InvalidCallbackSecret { len, reason });
        if len < Self::MIN_LEN {
            // An unset environment variable often expands to "".
            return refuse("at least 16 characters are needed");
        }
        if len > Self::MAX_LEN {
            return refuse("at most 256 characters are allowed");
        }
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            return refuse("only A-Z a-z 0-9 - . _ ~ are allowed (it goes in a URL)");
        }
        Ok(Self(secret))
    }

    /// `url` with `secret=<secret>` appended to its query.
    pub fn append_to(&self, url: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{}={}", Self::QUERY_PARAM, self.0.as_str())
    }

    /// Whether `presented` is the secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// Whether the request URI (path and query, or absolute) carries the secret in its
    /// [`QUERY_PARAM`](Self::QUERY_PARAM) query parameter, exactly once.
    pub fn verify_uri(&self, uri: &str) -> bool {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or_default();
        let mut values = query.split('&').filter_map(|pair| pair.strip_prefix(Self::QUERY_PARAM)?.strip_prefix('='));
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
