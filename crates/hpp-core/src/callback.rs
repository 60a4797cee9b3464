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

    /// `url` with a per-order signature appended to its query: `order=<order_key>` and
    /// `sig=<HMAC-SHA256 of the order key under this secret>`, and no secret. Register it as the
    /// `status_update` URL of that order's sessions: a URL that leaks (a proxy's or the
    /// service's logs) lets whoever reads it send callbacks for that one order's sessions, not
    /// for every session (the receiver checks the session belongs to the order:
    /// [`order_of_uri`](Self::order_of_uri)). The order key must be URL-safe (`A-Z a-z 0-9 - . _ ~`,
    /// at most 128 characters), as ids and UUIDs are.
    pub fn append_for_order(&self, url: &str, order_key: &str) -> Result<String, InputError> {
        if order_key.is_empty()
            || order_key.len() > 128
            || !order_key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(InputError::InvalidOrderKey { len: order_key.chars().count() });
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(format!("{url}{separator}{ORDER_PARAM}={order_key}&{SIG_PARAM}={}", self.order_mac(order_key)))
    }

    /// The order key a URI signed by [`append_for_order`](Self::append_for_order) names, when
    /// its signature is this secret's (compared in constant time); `None` otherwise.
    pub fn order_of_uri(&self, uri: &str) -> Option<String> {
        let order = single_param(uri, ORDER_PARAM)?;
        let sig = single_param(uri, SIG_PARAM)?;
        constant_time_eq(self.order_mac(order).as_bytes(), sig.as_bytes()).then(|| order.to_owned())
    }

    /// HMAC-SHA256 of the order key under the secret, in lowercase hex.
    fn order_mac(&self, order_key: &str) -> String {
        use hmac::{KeyInit, Mac};
        // invariant: HMAC takes a key of any length.
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.0.as_bytes()).expect("any key length");
        mac.update(b"hpp-order\0");
        mac.update(order_key.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `presented` is the secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// Whether the request URI (path and query, or absolute) carries the secret in its
    /// [`QUERY_PARAM`](Self::QUERY_PARAM) query parameter, exactly once.
    pub fn verify_uri(&self, uri: &str) -> bool {
        single_param(uri, Self::QUERY_PARAM).is_some_and(|value| self.matches(value))
    }
}

/// The query parameters of a per-order callback URL.
const ORDER_PARAM: &str = "order";
const SIG_PARAM: &str = "sig";

/// The value of query parameter `name` in `uri`, when it is there exactly once.
fn single_param<'u>(uri: &'u str, name: &str) -> Option<&'u str> {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    let mut values = query.split('&').filter_map(|pair| pair.strip_prefix(name)?.strip_prefix('='));
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

impl fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSecret(<redacted>)")
    }
}
