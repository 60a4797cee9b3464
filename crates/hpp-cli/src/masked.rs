//! The one masked view of each response the CLI prints, for human and `--json` output alike:
//! tokens, customer details and identification challenges become `<N chars masked>` (their
//! presence and length stay visible, their value does not). URLs and ids are kept: they are
//! what a script acts on, and the API origin guards them with the credentials.

use hpp_core::__private::redact::mask_all;
use hpp_core::callback::StatusCallback;
use hpp_core::model::Customer;
use hpp_core::{Session, SessionCreated};

fn mask(value: &mut Option<String>) {
    if let Some(v) = value.as_mut() {
        *v = mask_all(v);
    }
}

fn mask_customer(customer: &mut Option<Customer>) {
    if let Some(c) = customer.as_mut() {
        for field in [
            &mut c.date_of_birth,
            &mut c.family_name,
            &mut c.given_name,
            &mut c.national_identification_number,
            &mut c.title,
        ] {
            mask(field);
        }
    }
}

/// A session (read, watched, paid, or in a callback) as the CLI prints it.
pub(crate) fn session(session: &Session) -> Session {
    let mut shown = session.clone();
    mask(&mut shown.authorization_token);
    mask_customer(&mut shown.customer);
    if let Some(check) = shown.manual_identification.as_mut() {
        mask(&mut check.challenge);
        mask_customer(&mut check.customer);
        mask_customer(&mut check.customer_obfuscated);
    }
    shown
}

/// A created session as the CLI prints it: the distribution module's token masked.
pub(crate) fn created(created: &SessionCreated) -> SessionCreated {
    let mut shown = created.clone();
    if let Some(module) = shown.distribution_module.as_mut() {
        mask(&mut module.token);
    }
    shown
}

/// A callback event as the CLI prints it.
pub(crate) fn callback(event: &StatusCallback) -> StatusCallback {
    let mut shown = event.clone();
    shown.session = session(&event.session);
    shown
}
