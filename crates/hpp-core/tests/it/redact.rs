//! Exact `Debug` and `Display` of everything that holds a secret or personal data.

use hpp_core::__private::ContactInformation;
use hpp_core::model::{Customer, MerchantUrls};
use hpp_core::{Config, Credentials, DistributeSession, Distribution, Environment, Mode, Operation, Session};

#[test]
fn credentials_and_config() {
    let key = Credentials::api_key("kco_test_api_SECRETKEY123").unwrap();
    assert_eq!(format!("{key:?}"), r#"Credentials { kind: "api_key", value: "<redacted>" }"#);
    let basic = Credentials::basic("merchant", "hunter2").unwrap();
    assert_eq!(format!("{basic:?}"), r#"Credentials { kind: "basic", value: "<redacted>" }"#);
    let config = Config::new(Environment::Kustom(Mode::Playground), key);
    let shown = format!("{config:?}");
    assert!(!shown.contains("SECRETKEY123"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn requests_hide_authorization() {
    let config = crate::playground();
    let op = DistributeSession::new("s1", Distribution::email("jane.doe@example.com").unwrap());
    let request = op.build(&config).unwrap();
    let shown = format!("{request:?}");
    assert!(!shown.contains("SECRETKEY123"), "{shown}");
    assert!(shown.contains("Sensitive"), "{shown}");
    assert!(!format!("{op:?}").contains("jane.doe"));
}

#[test]
fn contact_data_is_masked() {
    let email = Distribution::email("jane.doe@example.com").unwrap();
    assert_eq!(
        format!("{email:?}"),
        r#"Distribution { method: Some(Email), contact_information: Some(ContactInformation { email: Some("j***@e***.com"), phone: None, phone_country: None, access_id: None }) }"#
    );
    let mut sms = ContactInformation::default();
    sms.phone = Some("07000212345".into());
    sms.phone_country = Some("SE".into());
    assert!(format!("{sms:?}").contains(r#"phone: Some("*********45")"#));
    let error = Distribution::email("jane.doe@example").unwrap_err();
    assert_eq!(error.to_string(), "invalid e-mail address j***@e***: the domain has no dot; nothing was sent");
    let error = Distribution::sms("0700021234x", "SE").unwrap_err();
    assert!(!error.to_string().contains("0700021234"), "{error}");
}

#[test]
fn tokens_urls_and_customers_are_hidden() {
    let mut customer = Customer::default();
    customer.given_name = Some("Jane".into());
    customer.national_identification_number = Some("198001011234".into());
    let mut session = Session::default();
    session.authorization_token = Some("a1a8f727-secret".into());
    session.customer = Some(customer);
    let shown = format!("{session:?}");
    for secret in ["a1a8f727", "Jane", "198001011234"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let check: hpp_core::model::ManualIdentification = serde_json::from_str(
        r#"{"challenge":"challenge-SECRET-4711","customer":{"given_name":"Jane"},"expires_at":"2026-12-06T12:00:00Z"}"#,
    )
    .unwrap();
    let shown = format!("{check:?}");
    assert!(shown.contains("ManualIdentification {") && shown.contains("2026-12-06T12:00:00Z"), "{shown}");
    for hidden in ["challenge-SECRET-4711", "Jane"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
    let mut urls = MerchantUrls::default();
    urls.status_update = Some("https://shop.example/cb?secretToken=7d1cbc3b".into());
    assert!(!format!("{urls:?}").contains("7d1cbc3b"));
}

/// The response types' `Debug`: the facts shown, personal data and tokens hidden (found by
/// mutation testing: no test read these).
#[test]
fn response_debug_shows_the_facts_and_hides_tokens_and_customers() {
    use hpp_core::model::{Session, SessionCreated, SessionStatus};
    let session: Session = serde_json::from_str(
        r#"{"session_id":"s1","status":"COMPLETED","authorization_token":"tok-SECRET",
            "customer":{"given_name":"Jane","family_name":"Doe","date_of_birth":"1987-08-15"}}"#,
    )
    .unwrap();
    let shown = format!("{session:?}");
    assert!(shown.starts_with("Session {") && shown.contains("Completed") && shown.contains("\"s1\""), "{shown}");
    assert_eq!(
        format!("{:?}", session.customer.as_ref().unwrap()),
        "Customer { date_of_birth: Some(<redacted>), family_name: Some(<redacted>), given_name: Some(<redacted>), \
         national_identification_number: None, title: None }"
    );
    for hidden in ["tok-SECRET", "Jane", "Doe", "1987"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
    let created: SessionCreated = serde_json::from_str(
        r#"{"distribution_module":{"token":"module-SECRET","standalone_url":"https://x.example/m"}}"#,
    )
    .unwrap();
    let shown = format!("{created:?}");
    assert!(shown.contains("DistributionModule {") && shown.contains("https://x.example/m"), "{shown}");
    assert!(!shown.contains("module-SECRET"), "{shown}");
    let later = SessionStatus::from("PARTIALLY_PAID");
    let SessionStatus::Other(value) = &later else { panic!() };
    assert_eq!(value.to_string(), "PARTIALLY_PAID");
    assert_eq!(format!("{later:?}"), r#"Other("PARTIALLY_PAID")"#);
}
