//! The SDK's requests against the published spec (`spec/hpp-openapi-v1.1.yml`), with
//! unknown properties forbidden, and the checker itself shown to catch what it should. The
//! sandbox's responses are checked in `sandbox_conformance.rs`, over its whole scenario table.

use hpp_core::model::{
    BackgroundImage, PaymentMethodCategory, PlaceOrderMode, PurchaseType, SessionOptions, ShowSubtotalDetail,
};
use hpp_core::{Config, CreateSession, Credentials, DistributeSession, Distribution, Environment, Mode, Operation};
use hpp_tests::spec::{KNOWN_DEFECTS, Spec};

fn config() -> Config {
    Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k").unwrap())
}

/// A create request with every field the API defines set.
fn create_with_every_field() -> CreateSession {
    let mut image = BackgroundImage::default();
    image.url = Some("https://shop.example/bg.jpg".to_owned());
    image.width = Some(1200);
    let urls = crate::merchant_urls(&[
        ("success", "https://shop.example/ok?sid={{session_id}}&token={{authorization_token}}"),
        ("cancel", "https://shop.example/cancel"),
        ("back", "https://shop.example/back"),
        ("failure", "https://shop.example/fail"),
        ("error", "https://shop.example/error"),
        ("status_update", "https://shop.example/cb?secret=0123456789abcdef"),
    ]);
    let mut options = SessionOptions::default();
    options.background_images = Some(vec![image]);
    options.logo_url = Some("https://shop.example/logo.png".to_owned());
    options.page_title = Some("Complete your purchase".to_owned());
    options.payment_method_categories = Some(vec![PaymentMethodCategory::PayLater, PaymentMethodCategory::PayNow]);
    options.payment_method_category = Some(PaymentMethodCategory::Klarna);
    options.place_order_mode = Some(PlaceOrderMode::CaptureOrder);
    options.purchase_type = Some(PurchaseType::Buy);
    options.show_subtotal_detail = Some(ShowSubtotalDetail::Hide);
    let mut create = crate::create("https://api.playground.kustom.co/checkout/v3/orders/1", urls);
    create.options = Some(options);
    create.profile_id = Some("87ab3565-5e06-4006-9ada-8eedc6926703".to_owned());
    create
}

#[test]
fn every_request_the_sdk_builds_is_one_the_spec_accepts() {
    let spec = Spec::load();
    let id = "9cbc9884-1fdb-45a8-9694-9340340d0436";
    let requests = [
        CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1").build(&config()).unwrap(),
        create_with_every_field().build(&config()).unwrap(),
        DistributeSession::new(id, Distribution::email("jane@example.com").unwrap()).build(&config()).unwrap(),
        DistributeSession::new(id, Distribution::sms("07000212345", "se").unwrap()).build(&config()).unwrap(),
        DistributeSession::new(id, Distribution::token("5a5e8e70-1a96-4651-b3b6-b774012a5bbb").unwrap())
            .build(&config())
            .unwrap(),
        hpp_core::ReadSession::new(id).build(&config()).unwrap(),
        hpp_core::DisableSession::new(id).build(&config()).unwrap(),
    ];
    for request in &requests {
        let (method, path) = (request.method().as_str(), request.uri().path());
        spec.check_request(method, path, request.body()).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    let spec = Spec::load();
    let path = "/hpp/v1/sessions";
    // Requests: an unknown property, a value outside an enum, a missing required field.
    let refused = [
        r#"{"payment_session_url":"https://x.example/o","colour":"red"}"#,
        r#"{"payment_session_url":"https://x.example/o","options":{"place_order_mode":"BOGUS"}}"#,
        r#"{"merchant_urls":{}}"#,
    ];
    for body in refused {
        assert!(spec.check_request("POST", path, body.as_bytes()).is_err(), "{body}");
    }
    assert!(spec.check_request("POST", "/hpp/v1/sessions/s1/distribution", br#"{"method":"email"}"#).is_err());
    assert!(
        spec.check_request(
            "POST",
            "/hpp/v1/sessions/s1/distribution",
            br#"{"method":"pigeon","contact_information":{}}"#
        )
        .is_err()
    );
    // Responses: an undeclared status, a body of the wrong shape, a malformed date-time, an
    // unknown status value; extra response fields are allowed (the spec does not forbid them).
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 418, b"").is_err());
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 200, br#"{"status":7}"#).is_err());
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 200, br#"{"expires_at":"tomorrow"}"#).is_err());
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 200, br#"{"status":"PAID"}"#).is_err());
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 200, br#"{"status":"WAITING","later":1}"#).is_ok());
    assert!(spec.check_response("GET", "/hpp/v1/sessionsX/s1", 200, b"{}").is_err(), "no such operation");
    // The corrections, and only those: TIMEOUT, a free access id, 429 and 502 on distribution.
    assert!(spec.check_response("GET", "/hpp/v1/sessions/s1", 200, br#"{"status":"TIMEOUT"}"#).is_ok());
    let token = br#"{"method":"token","contact_information":{"access_id":"any-id"}}"#;
    assert!(spec.check_request("POST", "/hpp/v1/sessions/s1/distribution", token).is_ok());
    assert!(spec.check_response("POST", "/hpp/v1/sessions/s1/distribution", 429, b"{}").is_ok());
    assert!(spec.check_response("POST", "/hpp/v1/sessions/s1/distribution", 502, b"{}").is_ok());
    assert!(spec.check_response("POST", "/hpp/v1/sessions", 429, b"{}").is_err(), "429 only where documented");
    assert_eq!(KNOWN_DEFECTS.len(), 6, "each correction is listed, with its reason");
}

#[test]
fn every_property_of_the_spec_has_a_model_field_and_a_new_one_would_fail() {
    let spec = Spec::load();
    let carriers = spec.carriers();
    assert_eq!(carriers.len(), 56, "the v1.1 spec has 56 properties");
    let missing: Vec<_> = carriers.iter().filter(|(_, c)| c.is_err()).collect();
    assert!(missing.is_empty(), "{missing:?}");

    // A future spec with one more property, and one more schema: both are failing lines.
    let text = std::fs::read_to_string(hpp_tests::spec::path()).unwrap();
    let marker = "    CustomerV1:\n      type: object\n      properties:\n";
    assert!(text.contains(marker));
    let grown = text.replace(marker, &format!("{marker}        middle_name:\n          type: string\n"))
        + "    LoyaltyV1:\n      type: object\n      properties:\n        points:\n          type: integer\n";
    let failing: Vec<String> =
        Spec::from_yaml(&grown).carriers().into_iter().filter(|(_, c)| c.is_err()).map(|(p, _)| p).collect();
    assert_eq!(failing, ["CustomerV1.middle_name", "LoyaltyV1.points"]);
}
