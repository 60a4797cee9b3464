//! Plumbing shared with the sibling crates (the sandbox, the CLI, the test kit, the fuzzers).
//!
//! **Not part of the public API**: hidden from the docs, outside semver, and may change in any
//! release. Nothing here is needed to use the SDK.

use http::HeaderValue;
use serde::{Deserialize, Serialize};

pub use crate::distribution::{check_country, check_email};
pub use crate::session::SESSIONS_PATH;

/// Masking of personal data for `Debug`, logs and error messages.
pub mod redact {
    pub use crate::redact::{REDACTED, mask_all, mask_email, mask_phone, scrub};
}

/// RFC 3339 timestamps as the API writes them.
pub mod time {
    pub use crate::time::{format_rfc3339, parse_rfc3339, unix_millis_to_rfc3339};
}

/// Whether `a == b`, in time that depends on their lengths only (for comparing secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    crate::callback::constant_time_eq(a, b)
}

/// The `Authorization` header the SDK sends for `credentials`, marked sensitive. For a server
/// that checks it (the sandbox) and the CLI's sandbox helpers; it carries the secret.
pub fn authorization(credentials: &crate::Credentials) -> HeaderValue {
    credentials.authorization()
}

/// An error body as the API sends it: the Klarna error object, with the gateway shape's fields.
/// The client reads error bodies leniently itself (see [`ApiError`](crate::ApiError)); this type
/// is what a server (such as the sandbox) writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// Machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<crate::ErrorCode>,
    /// Human-readable messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_messages: Option<Vec<String>>,
    /// Id to quote to support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Version of the service that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_version: Option<String>,
}
