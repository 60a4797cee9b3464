//! The exact request of every operation, distribution method, environment and credential kind.

use hpp_core::model::{BackgroundImage, PaymentMethodCategory, PlaceOrderMode, PurchaseType, ShowSubtotalDetail};
use hpp_core::{
    BaseUrl, Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Error,
    InputError, MerchantUrls, Mode, Operation, ReadSession, SessionOptions,
};

use crate::{playground, render};

const ID: &str = "9cbc9884-1fdb-45a8-9694-9340340d0436";

fn check(name: &str, op: &impl Operation, config: &Config) {
    let request = op.build(config).unwrap();
    insta::assert_snapshot!(name, render(&request));
}

#[test]
fn create_minimal() {
    check(
        "create_minimal",
        &CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/92d97f60"),
        &playground(),
    );
}

#[test]
fn create_full() {
    let mut urls = MerchantUrls::default();
    urls.success = Some("https://shop.example/ok?sid={{session_id}}&token={{authorization_token}}".into());
    urls.cancel = Some("https://shop.example/cancel".into());
    urls.back = Some("https://shop.example/back".into());
    urls.failure = Some("https://shop.example/fail".into());
    urls.error = Some("https://shop.example/error".into());
    urls.status_update = Some("https://shop.example/hpp-cb?sid={{session_id}}&secretToken=7d1cbc3b".into());
    let mut image = BackgroundImage::default();
    image.url = Some("https://shop.example/bg.jpg".into());
    image.width = Some(1200);
    let mut options = SessionOptions::default();
    options.background_images = Some(vec![image]);
    options.logo_url = Some("https://shop.example/logo.jpg".into());
    options.page_title = Some("Complete your purchase".into());
    options.payment_method_categories =
        Some(vec![PaymentMethodCategory::PayLater, PaymentMethodCategory::from("NEW_ONE")]);
    options.place_order_mode = Some(PlaceOrderMode::PlaceOrder);
    options.purchase_type = Some(PurchaseType::Buy);
    options.show_subtotal_detail = Some(ShowSubtotalDetail::Hide);
    let mut op = CreateSession::new("https://api.playground.kustom.co/payments/v1/sessions/92d97f60");
    op.merchant_urls = Some(urls);
    op.options = Some(options);
    op.profile_id = Some("87ab3565-5e06-4006-9ada-8eedc6926703".into());
    check("create_full", &op, &playground());
}

#[test]
fn read_disable_by_id_and_by_url() {
    let config = playground();
    let session_url = format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}");
    check("read_by_id", &ReadSession::new(ID), &config);
    check("read_by_url", &ReadSession::new(&session_url), &config);
    check("disable_by_id", &DisableSession::new(ID), &config);
    check("disable_by_url", &DisableSession::new(session_url), &config);
}

#[test]
fn distribute_each_method() {
    let config = playground();
    let url = format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}/distribution");
    check("distribute_email", &DistributeSession::new(&url, Distribution::email("user@example.com").unwrap()), &config);
    check(
        "distribute_token",
        &DistributeSession::new(ID, Distribution::token("5a5e8e70-1a96-4651-b3b6-b774012a5bbb").unwrap()),
        &config,
    );
    check(
        "distribute_token_escaped",
        &DistributeSession::new(ID, Distribution::token("klarna:\"quoted\"\\\n\u{1}é").unwrap()),
        &config,
    );
    check("distribute_sms", &DistributeSession::new(ID, Distribution::sms("07000212345", "se").unwrap()), &config);
}

#[test]
fn every_environment() {
    let envs = [
        ("kustom_production", Environment::Kustom(Mode::Production)),
        ("kustom_playground", Environment::Kustom(Mode::Playground)),
        ("klarna_eu_production", Environment::KlarnaEurope(Mode::Production)),
        ("klarna_eu_playground", Environment::KlarnaEurope(Mode::Playground)),
        ("klarna_na_production", Environment::KlarnaNorthAmerica(Mode::Production)),
        ("klarna_na_playground", Environment::KlarnaNorthAmerica(Mode::Playground)),
        ("klarna_oc_production", Environment::KlarnaOceania(Mode::Production)),
        ("klarna_oc_playground", Environment::KlarnaOceania(Mode::Playground)),
        ("custom_sandbox", BaseUrl::parse("http://127.0.0.1:8080/prefix/").map(Environment::Custom).unwrap()),
    ];
    let mut all = String::new();
    for (name, env) in envs {
        let config = Config::new(env, Credentials::api_key("k").unwrap());
        let request = ReadSession::new(ID).build(&config).unwrap();
        all.push_str(&format!("{name}: {} {}\n", request.method(), request.uri()));
    }
    insta::assert_snapshot!("environments", all);
}

#[test]
fn credentials_both_ways() {
    let key = Config::new(Environment::Kustom(Mode::Production), Credentials::api_key("kco_live_api_abc").unwrap());
    let request = ReadSession::new(ID).build(&key).unwrap();
    assert_eq!(request.headers()["authorization"], "Basic kco_live_api_abc");
    assert!(request.headers()["authorization"].is_sensitive());

    let basic =
        Config::new(Environment::Kustom(Mode::Production), Credentials::basic("PK0001_abc", "s3cr3t:x").unwrap());
    let request = ReadSession::new(ID).build(&basic).unwrap();
    // base64("PK0001_abc:s3cr3t:x")
    assert_eq!(request.headers()["authorization"], "Basic UEswMDAxX2FiYzpzM2NyM3Q6eA==");
    check("read_basic_credentials", &ReadSession::new(ID), &basic);

    assert!(Credentials::api_key("").is_err());
    assert!(Credentials::api_key("has space").is_err());
    assert!(Credentials::basic("a:b", "p").is_err());
    assert!(Credentials::basic("", "p").is_err());
    assert!(Credentials::basic("u", "line\nbreak").is_err());
}

#[test]
fn user_agent_names_crate_and_version() {
    let config = playground().with_user_agent_product("my-shop/1.4");
    let request = ReadSession::new(ID).build(&config).unwrap();
    let ua = request.headers()["user-agent"].to_str().unwrap();
    assert_eq!(ua, format!("kustom-hpp/{} (hpp-core; rust) my-shop/1.4", env!("CARGO_PKG_VERSION")));
    let injected = playground().with_user_agent_product("bad\r\nX-Evil: 1");
    assert!(injected.user_agent().to_str().unwrap().ends_with(" bad__X-Evil: 1"), "{:?}", injected.user_agent());
    assert_eq!(playground().with_user_agent_product("  ").user_agent(), playground().user_agent());
}

fn refused(op: &impl Operation, config: &Config) -> InputError {
    match op.build(config) {
        Err(Error::InvalidInput(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn invalid_input_is_refused_before_building() {
    let config = playground();
    assert!(matches!(Distribution::email("not-an-address"), Err(InputError::InvalidEmail { .. })));
    assert!(matches!(Distribution::token(""), Err(InputError::EmptyAccessId)));
    assert!(matches!(Distribution::sms("07000212345", "XX"), Err(InputError::InvalidPhoneCountry { .. })));
    assert!(matches!(Distribution::sms("07000212345", "SWE"), Err(InputError::InvalidPhoneCountry { .. })));
    assert!(matches!(Distribution::sms("call me", "SE"), Err(InputError::InvalidPhone { .. })));
    let token = Distribution::token("t").unwrap();
    assert_eq!(refused(&ReadSession::new(""), &config), InputError::EmptySessionId);
    for escaping in ["../admin", "a/b", "..", ".", "a?b=c", "a#b", "a%2Fb", "a b", "é"] {
        assert!(
            matches!(
                refused(&DistributeSession::new(escaping, token.clone()), &config),
                InputError::InvalidSessionId { .. }
            ),
            "{escaping}"
        );
    }
    assert!(matches!(
        refused(&CreateSession::new(""), &config),
        InputError::InvalidField { field: "payment_session_url", .. }
    ));
    assert!(matches!(refused(&CreateSession::new("not a url"), &config), InputError::InvalidField { .. }));
}

#[test]
fn followed_urls_must_point_at_the_configured_api() {
    let config = playground();
    let good = format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}");
    assert!(ReadSession::new(&good).build(&config).is_ok());
    let refusals = [
        format!("https://evil.example/hpp/v1/sessions/{ID}"),
        format!("http://api.playground.kustom.co/hpp/v1/sessions/{ID}"),
        format!("https://api.playground.kustom.co:8443/hpp/v1/sessions/{ID}"),
        format!("https://user:pw@api.playground.kustom.co/hpp/v1/sessions/{ID}"),
        format!("https://api.playground.kustom.co.evil.example/hpp/v1/sessions/{ID}"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}?x=1"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}#x"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}#"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}?"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}/distribution"),
        format!("https://api.playground.kustom.co/hpp/v1/sessions/{ID}/../../admin"),
        format!("https://api.playground.kustom.co/other/{ID}"),
        "https://api.playground.kustom.co/hpp/v1/sessions/".to_owned(),
        "https://".to_owned(),
    ];
    for url in refusals {
        let error = refused(&ReadSession::new(&url), &config);
        let wrong_kind = url.ends_with("/distribution");
        assert_eq!(matches!(error, InputError::UntrustedUrl { .. }), !wrong_kind, "{url}: {error:?}");
        assert_eq!(matches!(error, InputError::WrongSessionUrl { .. }), wrong_kind, "{url}: {error:?}");
        assert!(!error.to_string().contains("pw@"), "user info must not be shown: {error}");
    }
    let distribution = format!("{good}/distribution");
    assert!(DistributeSession::new(&distribution, Distribution::token("t").unwrap()).build(&config).is_ok());
    assert!(DistributeSession::new(&good, Distribution::token("t").unwrap()).build(&config).is_err());
}

#[test]
fn custom_base_urls() {
    assert!(BaseUrl::parse("https://sandbox.example").map(Environment::Custom).is_ok());
    assert!(BaseUrl::parse("http://localhost:1234").map(Environment::Custom).is_ok());
    assert!(BaseUrl::parse("http://[::1]:1234").map(Environment::Custom).is_ok());
    assert!(BaseUrl::parse("http://127.0.0.2").map(Environment::Custom).is_ok());
    for bad in ["http://example.com", "ftp://127.0.0.1", "https://u:p@host", "/relative", "https://h/?q=1", ""] {
        assert!(
            matches!(BaseUrl::parse(bad).map(Environment::Custom), Err(InputError::InvalidBaseUrl { .. })),
            "{bad}"
        );
    }
}

#[test]
fn plain_http_beyond_loopback_is_an_explicit_visible_opt_in() {
    // The default still refuses, and says how to opt in.
    let refused = BaseUrl::parse("http://sandbox:8080").map(Environment::Custom).unwrap_err().to_string();
    assert!(refused.contains("plain http") && refused.contains("explicitly allowed"), "{refused}");
    // The opt-in accepts it and says so wherever the configuration is shown.
    let environment = BaseUrl::parse_allowing_plain_http("http://sandbox:8080").map(Environment::Custom).unwrap();
    let Environment::Custom(base) = &environment else { panic!("{environment:?}") };
    assert!(base.sends_credentials_in_clear());
    let config = Config::new(environment.clone(), Credentials::api_key("k").unwrap());
    assert!(format!("{config:?}").contains("CREDENTIALS IN CLEAR"), "{config:?}");
    let request = ReadSession::new("s1").build(&config).unwrap();
    assert_eq!(request.uri(), "http://sandbox:8080/hpp/v1/sessions/s1");
    // It changes nothing else: loopback and https need no opt-in and do not show one; other
    // schemes, user info and queries are still refused.
    for ordinary in ["http://127.0.0.1:8080", "https://sandbox.example"] {
        let Environment::Custom(base) = BaseUrl::parse_allowing_plain_http(ordinary).map(Environment::Custom).unwrap()
        else {
            panic!()
        };
        assert!(!base.sends_credentials_in_clear() && !format!("{base:?}").contains("CLEAR"), "{ordinary}");
    }
    for bad in ["ftp://sandbox", "http://u:p@sandbox", "http://sandbox/?q=1"] {
        assert!(BaseUrl::parse_allowing_plain_http(bad).map(Environment::Custom).is_err(), "{bad}");
    }
    // Followed URLs must keep the plain-http origin exactly.
    let op = DistributeSession::new(
        "http://sandbox:8080/hpp/v1/sessions/s1/distribution",
        Distribution::token("t").unwrap(),
    );
    assert!(op.build(&config).is_ok());
    let op =
        DistributeSession::new("http://evil:8080/hpp/v1/sessions/s1/distribution", Distribution::token("t").unwrap());
    assert!(op.build(&config).is_err());
}
