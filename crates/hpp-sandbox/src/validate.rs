//! The checks the sandbox makes on a create request before accepting it, at least as strict as
//! the published spec where the spec is right: enum values, URLs that must be URLs, the required
//! `payment_session_url`. Each refusal is the message of a `400 CONSTRAINT_VIOLATION`, naming the
//! field as the API does.
//!
//! Where the guides show the service accepting more than the spec, the sandbox follows the
//! guides: the option enums are compared without regard to ASCII case (the guides send
//! `"pay_later"` where the spec lists `PAY_LATER`), and merchant URLs may carry the
//! `{{session_id}}`, `{{order_id}}` and `{{authorization_token}}` placeholders.

use hpp_core::CreateSession;
use hpp_core::model::SessionOptions;

/// `Err(why)` when the service would refuse `request`.
pub(crate) fn creation(request: &CreateSession) -> Result<(), String> {
    if request.payment_session_url.trim().is_empty() {
        return Err("payment_session_url: must not be blank".to_owned());
    }
    // The URL rule the CLI checks before sending, too.
    if let Some(invalid) = hpp_core::__private::invalid_url(request) {
        return Err(match invalid.field.as_str() {
            _ if invalid.why.starts_with("longer") => format!("{}: {}", invalid.field, invalid.why),
            "payment_session_url" => "payment_session_url: must be an absolute http(s) URL".to_owned(),
            _ => format!("{}: {:?} {}", invalid.field, short(&invalid.value), invalid.why),
        });
    }
    match &request.options {
        Some(options) => check_options(options),
        None => Ok(()),
    }
}

fn check_options(options: &SessionOptions) -> Result<(), String> {
    for (i, image) in options.background_images.iter().flatten().enumerate() {
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
