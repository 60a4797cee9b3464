//! The checks the sandbox makes on a create request before accepting it, at least as strict as
//! the published spec where the spec is right: enum values, URLs that must be URLs, the required
//! `payment_session_url`. Each refusal is the message of a `400 CONSTRAINT_VIOLATION`, naming the
//! field as the API does.
//!
//! Where the guides show the service accepting more than the spec, the sandbox follows the
//! guides: the option enums are compared without regard to ASCII case (the guides send
//! `"pay_later"` where the spec lists `PAY_LATER`), and merchant URLs may carry the
//! `{{session_id}}`, `{{order_id}}` and `{{authorization_token}}` placeholders.

use hpp_core::model::{SessionCreationRequest, SessionOptions};

/// The longest URL a create request may carry, in bytes (what browsers and proxies reliably take).
pub(crate) const MAX_URL_LEN: usize = 2_048;

/// `Err(why)` when the service would refuse `request`.
pub(crate) fn creation(request: &SessionCreationRequest) -> Result<(), String> {
    for (field, url) in urls(request) {
        if url.len() > MAX_URL_LEN {
            return Err(format!("{field}: longer than {MAX_URL_LEN} bytes ({} bytes)", url.len()));
        }
    }
    let url = request.payment_session_url.trim();
    if url.is_empty() {
        return Err("payment_session_url: must not be blank".to_owned());
    }
    if !is_absolute_url(url) {
        return Err("payment_session_url: must be an absolute http(s) URL".to_owned());
    }
    if let Some(urls) = &request.merchant_urls {
        let fields = [
            ("success", &urls.success),
            ("cancel", &urls.cancel),
            ("back", &urls.back),
            ("failure", &urls.failure),
            ("error", &urls.error),
            ("status_update", &urls.status_update),
        ];
        for (name, value) in fields {
            if let Some(value) = value.as_deref().filter(|v| !is_absolute_url(&without_placeholders(v))) {
                return Err(format!("merchant_urls.{name}: {:?} is not an absolute http(s) URL", short(value)));
            }
        }
    }
    match &request.options {
        Some(options) => check_options(options),
        None => Ok(()),
    }
}

/// Every URL of a create request, with its field's name.
fn urls(request: &SessionCreationRequest) -> Vec<(String, &str)> {
    let mut all = vec![("payment_session_url".to_owned(), request.payment_session_url.as_str())];
    if let Some(urls) = &request.merchant_urls {
        let fields = [
            ("success", &urls.success),
            ("cancel", &urls.cancel),
            ("back", &urls.back),
            ("failure", &urls.failure),
            ("error", &urls.error),
            ("status_update", &urls.status_update),
        ];
        all.extend(fields.into_iter().filter_map(|(name, v)| Some((format!("merchant_urls.{name}"), v.as_deref()?))));
    }
    if let Some(options) = &request.options {
        all.extend(options.logo_url.as_deref().map(|u| ("options.logo_url".to_owned(), u)));
        for (i, image) in options.background_images.iter().flatten().enumerate() {
            all.extend(image.url.as_deref().map(|u| (format!("options.background_images[{i}].url"), u)));
        }
    }
    all
}

fn check_options(options: &SessionOptions) -> Result<(), String> {
    if let Some(logo) = options.logo_url.as_deref().filter(|u| !is_absolute_url(u)) {
        return Err(format!("options.logo_url: {:?} is not an absolute http(s) URL", short(logo)));
    }
    for (i, image) in options.background_images.iter().flatten().enumerate() {
        if let Some(url) = image.url.as_deref().filter(|u| !is_absolute_url(u)) {
            return Err(format!("options.background_images[{i}].url: {:?} is not an absolute http(s) URL", short(url)));
        }
        if image.width.is_some_and(|w| w <= 0) {
            return Err(format!("options.background_images[{i}].width: must be positive"));
        }
    }
    match hpp_core::__private::unknown_option(options) {
        Some(unknown) => {
            Err(format!("{}: {:?} is not one of {}", unknown.field, short(&unknown.value), unknown.allowed.join(", ")))
        }
        None => Ok(()),
    }
}

fn short(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A merchant URL with the service's placeholders filled in, so that it can be parsed.
fn without_placeholders(url: &str) -> String {
    url.replace("{{session_id}}", "x").replace("{{order_id}}", "x").replace("{{authorization_token}}", "x")
}

/// An absolute `http` or `https` URL with a host.
fn is_absolute_url(value: &str) -> bool {
    let Ok(uri) = value.parse::<http::Uri>() else { return false };
    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
}
