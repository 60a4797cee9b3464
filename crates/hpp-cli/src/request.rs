//! The create and distribution requests, from flags and an optional JSON body (a file, or `-`
//! for standard input): every field the API defines can be set, option values are checked
//! against the values this version knows (exit 3, nothing sent) unless the caller opts out, and
//! a body field the SDK would not send is refused rather than dropped.

use std::io::Read;

use hpp_core::__private::DistributionRequest;
use hpp_core::__private::redact::scrub;
use hpp_core::model::{
    BackgroundImage, MerchantUrls, PaymentMethodCategory, PlaceOrderMode, PurchaseType, SessionOptions,
    ShowSubtotalDetail,
};
use hpp_core::{CreateSession, Distribution};
use serde_json::Value;

use crate::output::Failure;

/// The largest body read from a file or standard input.
const MAX_BODY: u64 = 1024 * 1024;

/// A clap parser that takes any string but shows `KNOWN` in `--help` (and completions), so the
/// allowed values are listed from the SDK's own list, and an unknown one reaches
/// `check_options`, which refuses it with exit 3 (or lets it through with
/// `--allow-unknown-values`).
#[derive(Clone)]
pub(crate) struct KnownValues(pub(crate) &'static [&'static str]);

impl clap::builder::TypedValueParser for KnownValues {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        value.to_str().map(str::to_owned).ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| clap::builder::PossibleValue::new(*v))))
    }
}

/// The create command's fields, as parsed.
#[derive(Debug, Default)]
pub(crate) struct CreateFields {
    pub(crate) body: Option<String>,
    pub(crate) payment_session_url: Option<String>,
    pub(crate) merchant_urls: MerchantUrls,
    pub(crate) profile_id: Option<String>,
    pub(crate) logo_url: Option<String>,
    pub(crate) page_title: Option<String>,
    pub(crate) background_images: Vec<String>,
    pub(crate) payment_method_categories: Vec<String>,
    pub(crate) payment_method_category: Option<String>,
    pub(crate) place_order_mode: Option<String>,
    pub(crate) purchase_type: Option<String>,
    pub(crate) show_subtotal_detail: Option<String>,
    pub(crate) allow_unknown_values: bool,
}

/// The create request: the body (if any), then each flag given set on top of it.
pub(crate) fn create(fields: CreateFields) -> Result<CreateSession, Failure> {
    let mut request: CreateSession = match &fields.body {
        Some(source) => from_body(source, "a session creation request")?,
        None => CreateSession::default(),
    };
    if let Some(url) = fields.payment_session_url {
        request.payment_session_url = url;
    }
    if request.payment_session_url.is_empty() {
        return Err(Failure::usage("--payment-session-url is required (or a payment_session_url in --body)"));
    }
    let flags = &fields.merchant_urls;
    if *flags != MerchantUrls::default() {
        let urls = request.merchant_urls.get_or_insert_with(MerchantUrls::default);
        let set = |target: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                target.clone_from(value);
            }
        };
        set(&mut urls.success, &flags.success);
        set(&mut urls.cancel, &flags.cancel);
        set(&mut urls.back, &flags.back);
        set(&mut urls.failure, &flags.failure);
        set(&mut urls.error, &flags.error);
        set(&mut urls.status_update, &flags.status_update);
    }
    if fields.profile_id.is_some() {
        request.profile_id = fields.profile_id;
    }
    let options_given = fields.logo_url.is_some()
        || fields.page_title.is_some()
        || !fields.background_images.is_empty()
        || !fields.payment_method_categories.is_empty()
        || fields.payment_method_category.is_some()
        || fields.place_order_mode.is_some()
        || fields.purchase_type.is_some()
        || fields.show_subtotal_detail.is_some();
    if options_given {
        let options = request.options.get_or_insert_with(SessionOptions::default);
        let upper = |v: String| v.to_ascii_uppercase();
        if fields.logo_url.is_some() {
            options.logo_url = fields.logo_url;
        }
        if fields.page_title.is_some() {
            options.page_title = fields.page_title;
        }
        if !fields.background_images.is_empty() {
            options.background_images = Some(fields.background_images.iter().map(|s| background_image(s)).collect());
        }
        if !fields.payment_method_categories.is_empty() {
            let categories =
                fields.payment_method_categories.into_iter().map(|c| PaymentMethodCategory::from(upper(c)));
            options.payment_method_categories = Some(categories.collect());
        }
        if let Some(category) = fields.payment_method_category {
            options.payment_method_category = Some(PaymentMethodCategory::from(upper(category)));
        }
        if let Some(mode) = fields.place_order_mode {
            options.place_order_mode = Some(PlaceOrderMode::from(upper(mode)));
        }
        if let Some(purchase) = fields.purchase_type {
            options.purchase_type = Some(PurchaseType::from(upper(purchase)));
        }
        if let Some(detail) = fields.show_subtotal_detail {
            options.show_subtotal_detail = Some(ShowSubtotalDetail::from(upper(detail)));
        }
    }
    if !fields.allow_unknown_values {
        check_options(request.options.as_ref())?;
    }
    // The URL rule the sandbox and the API refuse by: checked here, before anything is sent.
    if let Some(invalid) = hpp_core::__private::invalid_url(&request) {
        let shown: String = invalid.value.chars().take(60).collect();
        return Err(Failure::invalid_input(&format!(
            "{} {:?} {}; nothing was sent",
            invalid.field,
            scrub(&shown),
            invalid.why
        )));
    }
    Ok(request)
}

/// `URL` or `URL@WIDTH` (the width in pixels).
fn background_image(value: &str) -> BackgroundImage {
    let mut image = BackgroundImage::default();
    match value.rsplit_once('@').filter(|(_, w)| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())) {
        Some((url, width)) => {
            image.url = Some(url.to_owned());
            image.width = width.parse().ok();
        }
        None => image.url = Some(value.to_owned()),
    }
    image
}

/// Refuses an option value this version does not know, naming the field and the known values.
/// (The sandbox refuses by the same rule: `hpp_core::__private::unknown_option`.)
fn check_options(options: Option<&SessionOptions>) -> Result<(), Failure> {
    let Some(unknown) = options.and_then(hpp_core::__private::unknown_option) else { return Ok(()) };
    let shown: String = unknown.value.chars().take(40).collect();
    Err(Failure::invalid_input(&format!(
        "{} {shown:?} is not one of {}; nothing was sent (--allow-unknown-values sends a value the API added \
         after this version)",
        unknown.field,
        unknown.allowed.join(", ")
    )))
}

/// A distribution from a JSON body, checked as the other distribution commands check theirs.
pub(crate) fn distribution_from_body(source: &str) -> Result<Distribution, Failure> {
    let request: DistributionRequest = from_body(source, "a distribution request")?;
    hpp_core::__private::distribution_from_request(request).map_err(|e| Failure::from(&hpp_core::Error::from(e)))
}

/// Reads `source` (a path, or `-` for standard input) as JSON of type `T`, refusing fields `T`
/// does not carry (they would be dropped silently otherwise).
fn from_body<T: serde::de::DeserializeOwned + serde::Serialize>(source: &str, what: &str) -> Result<T, Failure> {
    let mut text = String::new();
    let read = if source == "-" {
        std::io::stdin().take(MAX_BODY + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(source).and_then(|f| f.take(MAX_BODY + 1).read_to_string(&mut text))
    };
    let shown = if source == "-" { "standard input".to_owned() } else { source.to_owned() };
    if let Err(e) = read {
        return Err(Failure::usage(&format!("--body: cannot read {shown}: {e}")));
    }
    if text.len() as u64 > MAX_BODY {
        return Err(Failure::usage(&format!("--body: {shown} is larger than {MAX_BODY} bytes")));
    }
    // serde's messages quote the offending value, and a key can be an address: scrubbed, as a
    // server's messages are.
    let given: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::invalid_input(&format!("--body: {shown} is not JSON: {}; nothing was sent", scrub(&e.to_string())))
    })?;
    let parsed: T = serde_json::from_value(given.clone()).map_err(|e| {
        Failure::invalid_input(&format!("--body: {shown} is not {what}: {}; nothing was sent", scrub(&e.to_string())))
    })?;
    // invariant: the SDK's request types always serialize.
    let kept = serde_json::to_value(&parsed).expect("serializable");
    let mut dropped = Vec::new();
    dropped_fields(&given, &kept, "", &mut dropped);
    if !dropped.is_empty() {
        return Err(Failure::invalid_input(&format!(
            "--body: {shown} has fields the API does not define: {}; nothing was sent",
            scrub(&dropped.join(", "))
        )));
    }
    Ok(parsed)
}

/// The paths of non-null fields of `given` that `kept` does not have.
fn dropped_fields(given: &Value, kept: &Value, at: &str, out: &mut Vec<String>) {
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                match kept.get(key) {
                    Some(inner) => dropped_fields(value, inner, &path, out),
                    None if !value.is_null() => out.push(path),
                    None => {}
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, inner)) in given.iter().zip(kept).enumerate() {
                dropped_fields(value, inner, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_fields_are_named_by_path() {
        let given: Value = serde_json::json!({"a": 1, "b": {"c": 2, "d": null}, "e": [{"f": 1, "g": 2}]});
        let kept: Value = serde_json::json!({"a": 1, "b": {}, "e": [{"f": 1}]});
        let mut out = Vec::new();
        dropped_fields(&given, &kept, "", &mut out);
        assert_eq!(out, ["b.c", "e[0].g"]);
    }

    #[test]
    fn background_images_take_an_optional_width() {
        let image = background_image("https://x.example/bg.jpg@1200");
        assert_eq!((image.url.as_deref(), image.width), (Some("https://x.example/bg.jpg"), Some(1200)));
        let image = background_image("https://user@x.example/bg.jpg");
        assert_eq!((image.url.as_deref(), image.width), (Some("https://user@x.example/bg.jpg"), None));
    }
}
