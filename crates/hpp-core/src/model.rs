//! The API's JSON bodies, as the API names them.
//!
//! Request types serialize exactly the fields that are set. Response types accept any subset of
//! their fields, ignore fields they do not know and keep enum values they do not know
//! (`Other`, see [`UnknownValue`]), because the service has changed under its SDKs before. Structs are
//! `#[non_exhaustive]` with public fields and `Default`: build one from `Default::default()` by
//! setting its fields (one way, so a field the API adds later breaks no build):
//!
//! ```
//! use hpp_core::model::{MerchantUrls, PlaceOrderMode, SessionOptions};
//! let mut urls = MerchantUrls::default();
//! urls.success = Some("https://shop.example/ok?sid={{session_id}}".into());
//! urls.cancel = Some("https://shop.example/cart".into());
//! let mut options = SessionOptions::default();
//! options.place_order_mode = Some(PlaceOrderMode::PlaceOrder);
//! ```
//!
//! `Debug` masks personal data and tokens: contact data, customer details, authorization tokens
//! and the `status_update` URL (which carries the merchant's callback secret).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::redact::RedactedOption;

/// A value of the API enum `E` that this version of the SDK does not know, kept exactly as the
/// server sent it (the `Other` variant of [`SessionStatus`], [`ErrorCode`](crate::ErrorCode) and
/// the other open enums). It cannot be built from outside the SDK, so a known value always has
/// its named variant and never also an `Other` form:
///
/// ```
/// use hpp_core::SessionStatus;
///
/// assert_eq!(SessionStatus::from("COMPLETED"), SessionStatus::Completed);
/// let later = SessionStatus::from("PARTIALLY_PAID");
/// let SessionStatus::Other(value) = &later else { unreachable!() };
/// assert_eq!(value.as_str(), "PARTIALLY_PAID");
/// assert_eq!(later.as_str(), "PARTIALLY_PAID");
/// ```
///
/// Each enum's unknown value is its own type, so one enum's cannot become another's: an error
/// code the SDK does not know, `"COMPLETED"`, can never be passed off as a session status that
/// would then differ from `SessionStatus::Completed`.
///
/// ```compile_fail
/// use hpp_core::{ErrorCode, SessionStatus};
///
/// let ErrorCode::Other(value) = ErrorCode::from("COMPLETED") else { unreachable!() };
/// let status = SessionStatus::Other(value); // an UnknownValue<ErrorCode>: does not compile
/// ```
pub struct UnknownValue<E>(String, std::marker::PhantomData<fn() -> E>);

impl<E> UnknownValue<E> {
    /// Only the open enums' conversions make one, for a value they do not know.
    pub(crate) fn new(value: String) -> Self {
        Self(value, std::marker::PhantomData)
    }

    /// The value as the server sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<E> Clone for UnknownValue<E> {
    fn clone(&self) -> Self {
        Self::new(self.0.clone())
    }
}

impl<E> PartialEq for UnknownValue<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<E> Eq for UnknownValue<E> {}

impl<E> std::hash::Hash for UnknownValue<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<E> fmt::Debug for UnknownValue<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<E> fmt::Display for UnknownValue<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

open_enum! {
    /// `status` of an HPP session.
    pub enum SessionStatus {
        /// Created; the consumer has not opened the page yet.
        Waiting = "WAITING",
        /// The consumer pressed back; they may come back.
        Back = "BACK",
        /// The consumer is on the page.
        InProgress = "IN_PROGRESS",
        /// A manual identification check is pending (undocumented).
        ManualIdCheck = "MANUAL_ID_CHECK",
        /// Paid. Final.
        Completed = "COMPLETED",
        /// The consumer cancelled. Final.
        Cancelled = "CANCELLED",
        /// The purchase was refused.
        Failed = "FAILED",
        /// Disabled by the merchant. Final.
        Disabled = "DISABLED",
        /// An error in the flow; the consumer may retry.
        Error = "ERROR",
        /// The session timed out (seen in callbacks, not in the spec's enum). Final.
        Timeout = "TIMEOUT",
    }
}

open_enum! {
    /// `options.place_order_mode`: who places the order after authorization.
    pub enum PlaceOrderMode {
        /// HPP places the order; you capture later.
        PlaceOrder = "PLACE_ORDER",
        /// HPP places and captures the order.
        CaptureOrder = "CAPTURE_ORDER",
        /// You get an authorization token and place the order yourself (the default).
        None = "NONE",
    }
}

open_enum! {
    /// `options.payment_method_categories` values.
    pub enum PaymentMethodCategory {
        /// Direct debit.
        DirectDebit = "DIRECT_DEBIT",
        /// Direct bank transfer.
        DirectBankTransfer = "DIRECT_BANK_TRANSFER",
        /// Pay now.
        PayNow = "PAY_NOW",
        /// Pay later.
        PayLater = "PAY_LATER",
        /// Financing.
        PayOverTime = "PAY_OVER_TIME",
        /// Any Klarna method.
        Klarna = "KLARNA",
    }
}

open_enum! {
    /// `options.purchase_type`.
    pub enum PurchaseType {
        /// Buy.
        Buy = "BUY",
        /// Rent.
        Rent = "RENT",
        /// Book.
        Book = "BOOK",
        /// Subscribe.
        Subscribe = "SUBSCRIBE",
        /// Download.
        Download = "DOWNLOAD",
        /// Order.
        Order = "ORDER",
        /// Continue.
        Continue = "CONTINUE",
    }
}

open_enum! {
    /// `options.show_subtotal_detail`.
    pub enum ShowSubtotalDetail {
        /// Hide the subtotal detail.
        Hide = "HIDE",
    }
}

open_enum! {
    /// `method` of a distribution.
    pub enum DistributionMethod {
        /// An e-mail with the pay link.
        Email = "email",
        /// A text message with the pay link (older API versions; refused in the playground).
        Sms = "sms",
        /// Hand the session to the device that showed a QR code, by its access id.
        Token = "token",
    }
}

/// `merchant_urls` of a create request. Every field is optional; the API substitutes
/// `{{session_id}}`, `{{order_id}}` and `{{authorization_token}}` inside them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MerchantUrls {
    /// Where the consumer goes after a successful payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    /// Where the consumer goes after cancelling (definitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
    /// Where the consumer goes after pressing back (the session stays open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back: Option<String>,
    /// Where the consumer goes when the purchase is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Where the consumer goes on an error (falls back to `failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTPS callback that receives status changes. It usually carries a secret, so `Debug`
    /// does not show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update: Option<String>,
}

impl fmt::Debug for MerchantUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantUrls")
            .field("success", &self.success)
            .field("cancel", &self.cancel)
            .field("back", &self.back)
            .field("failure", &self.failure)
            .field("error", &self.error)
            .field("status_update", &RedactedOption(&self.status_update))
            .finish()
    }
}

/// One of `options.background_images`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackgroundImage {
    /// HTTPS URL of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
}

/// `options` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Background images; the best matching resolution is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_images: Option<Vec<BackgroundImage>>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Page title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_title: Option<String>,
    /// Payment method categories to offer (ignored for KCO orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_categories: Option<Vec<PaymentMethodCategory>>,
    /// One payment method category (do not set both this and the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_category: Option<PaymentMethodCategory>,
    /// Who places the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_order_mode: Option<PlaceOrderMode>,
    /// Purchase type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_type: Option<PurchaseType>,
    /// Subtotal detail display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_subtotal_detail: Option<ShowSubtotalDetail>,
}

/// `distribution_module` of a created session.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DistributionModule {
    /// Token for the distribution module (not shown by `Debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// URL of the standalone distribution page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone_url: Option<String>,
    /// URL that generates a new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_url: Option<String>,
}

impl fmt::Debug for DistributionModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributionModule")
            .field("token", &RedactedOption(&self.token))
            .field("standalone_url", &self.standalone_url)
            .field("generation_url", &self.generation_url)
            .finish()
    }
}

/// Response of a create (`SessionCreationResponseV1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionCreated {
    /// The HPP session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// API URL to read or disable the session (needs credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_url: Option<String>,
    /// API URL to distribute the session (needs credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_url: Option<String>,
    /// Public pay link for the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Public URL of a QR code image of the pay link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code_url: Option<String>,
    /// When the session expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// API URL of the manual identification check (undocumented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_identification_check_url: Option<String>,
    /// The distribution module, when the merchant uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_module: Option<DistributionModule>,
}

/// Customer details on a session. `Debug` shows none of them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Customer {
    /// Date of birth (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// National identification number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_identification_number: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("date_of_birth", &RedactedOption(&self.date_of_birth))
            .field("family_name", &RedactedOption(&self.family_name))
            .field("given_name", &RedactedOption(&self.given_name))
            .field("national_identification_number", &RedactedOption(&self.national_identification_number))
            .field("title", &RedactedOption(&self.title))
            .finish()
    }
}

/// `manual_identification` of a session (undocumented beyond its shape). `Debug` shows no
/// challenge or customer detail.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManualIdentification {
    /// The challenge shown to the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The customer to identify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// The same, obfuscated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_obfuscated: Option<Customer>,
    /// When the check expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl fmt::Debug for ManualIdentification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualIdentification")
            .field("challenge", &RedactedOption(&self.challenge))
            .field("customer", &self.customer)
            .field("customer_obfuscated", &self.customer_obfuscated)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A session as read (`SessionResponseV1`), also the `session` of a status callback.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The HPP session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When the session expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Authorization token (payments sessions completed without `place_order_mode`). Not shown
    /// by `Debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_token: Option<String>,
    /// The order id, when an order was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The consumer-facing purchase reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub klarna_reference: Option<String>,
    /// Customer details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// Manual identification check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_identification: Option<ManualIdentification>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("updated_at", &self.updated_at)
            .field("expires_at", &self.expires_at)
            .field("authorization_token", &RedactedOption(&self.authorization_token))
            .field("order_id", &self.order_id)
            .field("klarna_reference", &self.klarna_reference)
            .field("customer", &self.customer)
            .field("manual_identification", &self.manual_identification)
            .finish()
    }
}
