//! Plumbing shared with the sibling crates (the sandbox, the CLI, the test kit, the fuzzers).
//!
//! **Not part of the public API**: hidden from the docs, outside semver, and may change in any
//! release. Nothing here is needed to use the SDK.

use serde::{Deserialize, Serialize};

pub use crate::config::shown_url;
pub use crate::dedup::Deduplicator;

/// A [`Distribution`](crate::Distribution) from its body, with the constructors' checks (the
/// CLI's `--body`; users deserialize a `Distribution`).
pub fn distribution_from_request(request: DistributionRequest) -> Result<crate::Distribution, crate::InputError> {
    crate::Distribution::from_request(request)
}
pub use crate::distribution::{ContactInformation, DistributionRequest, check_country, check_email};
pub use crate::session::SESSIONS_PATH;

/// Masking of personal data for `Debug`, logs and error messages.
pub mod redact {
    pub use crate::redact::{REDACTED, mask_all, mask_email, mask_phone, scrub};
}

/// RFC 3339 timestamps as the API writes them.
pub mod time {
    pub use crate::time::{format_rfc3339, parse_rfc3339, unix_millis_to_rfc3339};
}

/// The longest URL a create request may carry, in bytes (what browsers and proxies reliably take).
pub const MAX_URL_LEN: usize = 2_048;

/// A URL of a create request the service refuses: its field (as the API names it), the value,
/// and why (`is not an absolute http(s) URL`, or `longer than …`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidUrl {
    /// `payment_session_url`, `merchant_urls.success`, `options.logo_url`, ...
    pub field: String,
    /// The value as given.
    pub value: String,
    /// Why it is refused.
    pub why: String,
}

/// The first URL of `request` the service refuses: one that is not an absolute `http(s)` URL
/// with a host (merchant URLs may carry the `{{session_id}}`, `{{order_id}}` and
/// `{{authorization_token}}` placeholders), or is longer than [`MAX_URL_LEN`]. The one rule the
/// sandbox refuses by and the CLI checks before sending.
pub fn invalid_url(request: &crate::CreateSession) -> Option<InvalidUrl> {
    let mut urls = vec![("payment_session_url".to_owned(), request.payment_session_url.as_str(), false)];
    if let Some(m) = &request.merchant_urls {
        let fields = [
            ("success", &m.success),
            ("cancel", &m.cancel),
            ("back", &m.back),
            ("failure", &m.failure),
            ("error", &m.error),
            ("status_update", &m.status_update),
        ];
        urls.extend(
            fields.into_iter().filter_map(|(name, v)| Some((format!("merchant_urls.{name}"), v.as_deref()?, true))),
        );
    }
    if let Some(options) = &request.options {
        urls.extend(options.logo_url.as_deref().map(|u| ("options.logo_url".to_owned(), u, false)));
        for (i, image) in options.background_images.iter().flatten().enumerate() {
            urls.extend(image.url.as_deref().map(|u| (format!("options.background_images[{i}].url"), u, false)));
        }
    }
    urls.into_iter().find_map(|(field, value, placeholders)| {
        let why = if value.len() > MAX_URL_LEN {
            format!("longer than {MAX_URL_LEN} bytes ({} bytes)", value.len())
        } else if !is_absolute_http_url(&if placeholders {
            without_placeholders(value)
        } else {
            value.trim().to_owned()
        }) {
            "is not an absolute http(s) URL".to_owned()
        } else {
            return None;
        };
        Some(InvalidUrl { field, value: value.to_owned(), why })
    })
}

/// A merchant URL with the service's placeholders filled in, so that it can be parsed.
fn without_placeholders(url: &str) -> String {
    url.replace("{{session_id}}", "x").replace("{{order_id}}", "x").replace("{{authorization_token}}", "x")
}

/// An absolute `http` or `https` URL with a host.
fn is_absolute_http_url(value: &str) -> bool {
    let Ok(uri) = value.parse::<http::Uri>() else { return false };
    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
}

/// An option value outside the values its enum knows: the field (as the API names it), the
/// value as given, and the values allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownOption {
    /// `options.place_order_mode`, `options.payment_method_categories[1]`, ...
    pub field: String,
    /// The value as given.
    pub value: String,
    /// The values the enum knows.
    pub allowed: &'static [&'static str],
}

/// The first value of `options` outside its enum, compared in any ASCII case (the guides send
/// lower-case values): the one rule the sandbox refuses by and the CLI checks before sending.
pub fn unknown_option(options: &crate::model::SessionOptions) -> Option<UnknownOption> {
    use crate::model::{PaymentMethodCategory, PlaceOrderMode, PurchaseType, ShowSubtotalDetail};
    let categories = options.payment_method_categories.iter().flatten().enumerate();
    let listed = categories
        .map(|(i, c)| (format!("options.payment_method_categories[{i}]"), c.as_str(), PaymentMethodCategory::KNOWN));
    let single = [
        (
            "payment_method_category",
            options.payment_method_category.as_ref().map(|v| v.as_str()),
            PaymentMethodCategory::KNOWN,
        ),
        ("place_order_mode", options.place_order_mode.as_ref().map(|v| v.as_str()), PlaceOrderMode::KNOWN),
        ("purchase_type", options.purchase_type.as_ref().map(|v| v.as_str()), PurchaseType::KNOWN),
        ("show_subtotal_detail", options.show_subtotal_detail.as_ref().map(|v| v.as_str()), ShowSubtotalDetail::KNOWN),
    ];
    let singles =
        single.into_iter().filter_map(|(name, value, allowed)| Some((format!("options.{name}"), value?, allowed)));
    listed
        .chain(singles)
        .find(|(_, value, allowed)| !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)))
        .map(|(field, value, allowed)| UnknownOption { field, value: value.to_owned(), allowed })
}

/// Whether `a == b`, in time that depends on their lengths only (for comparing secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    crate::callback::constant_time_eq(a, b)
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

/// `uri` with the value of every [`CallbackSecret::QUERY_PARAM`](crate::callback::CallbackSecret::QUERY_PARAM)
/// query parameter replaced by `<redacted>`, for logs and listings.
pub fn redact_secret(uri: &str) -> String {
    const PARAM: &str = crate::callback::CallbackSecret::QUERY_PARAM;
    let Some((head, query)) = uri.split_once('?') else { return uri.to_owned() };
    let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((PARAM, _)) => format!("{PARAM}={}", crate::redact::REDACTED),
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
