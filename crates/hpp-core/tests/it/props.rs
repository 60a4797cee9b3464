//! Properties: no input panics, statuses survive, models round-trip, ids are sent exactly or
//! refused, secrets never print.

use hpp_core::model::{Customer, Session, SessionCreated, SessionStatus};
use hpp_core::{
    Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Error, Mode,
    Operation, ReadSession, Response,
};
use proptest::prelude::*;

fn response(status: u16, content_type: Option<String>, body: Vec<u8>) -> Response {
    let mut builder = http::Response::builder().status(status);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    builder.body(body).unwrap()
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "[{}\\[\\]\":,a-z_0-9 ]{0,64}".prop_map(String::into_bytes),
        Just(br#"{"error_code":"NOT_FOUND","error_messages":["x"]}"#.to_vec()),
        Just(br#"{"session_id":"s","status":"WAITING"}"#.to_vec()),
        Just(br#"{"error_messages":"not-an-array","correlation_id":7}"#.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics_and_keeps_the_status(
        status in 100u16..=999,
        content_type in proptest::option::of("[ -~]{0,40}"),
        body in any_body(),
    ) {
        let make = || response(status, content_type.clone().filter(|c| http::HeaderValue::from_str(c).is_ok()), body.clone());
        let results = [
            CreateSession::new("https://x.example/o").parse(make()).map(drop),
            ReadSession::new("s").parse(make()).map(drop),
            DisableSession::new("s").parse(make()),
            DistributeSession::new("s", Distribution::token("t").unwrap()).parse(make()),
        ];
        for (i, result) in results.into_iter().enumerate() {
            let is_2xx = (200..300).contains(&status);
            match result {
                Err(Error::Api(api)) => prop_assert!(!is_2xx && api.status().as_u16() == status),
                Err(Error::Decode(decode)) => prop_assert!(is_2xx && i < 2 && decode.status().as_u16() == status),
                Ok(()) => prop_assert!(is_2xx),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        // Disable and distribute ignore success bodies.
        if (200..300).contains(&status) {
            prop_assert!(DisableSession::new("s").parse(make()).is_ok());
        }
    }

    #[test]
    fn sessions_round_trip_and_unknown_statuses_survive(
        id in proptest::option::of(".{0,40}"),
        status in proptest::option::of(prop_oneof![
            proptest::sample::select(SessionStatus::KNOWN).prop_map(SessionStatus::from),
            "[A-Z_]{1,20}".prop_map(SessionStatus::from),
        ]),
        token in proptest::option::of(".{0,40}"),
        given in proptest::option::of(".{0,20}"),
    ) {
        let mut session = Session::default();
        session.session_id = id;
        session.status = status;
        session.authorization_token = token;
        session.customer = given.map(|g| {
            let mut customer = Customer::default();
            customer.given_name = Some(g);
            customer
        });
        let json = serde_json::to_vec(&session).unwrap();
        let back: Session = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&back, &session);
        if let Some(status) = &back.status {
            prop_assert_eq!(SessionStatus::from(status.as_str()), status.clone());
        }
        let mut created = SessionCreated::default();
        created.session_id = session.session_id.clone();
        created.expires_at = Some("x".into());
        let back: SessionCreated = serde_json::from_slice(&serde_json::to_vec(&created).unwrap()).unwrap();
        prop_assert_eq!(back, created);
    }

    #[test]
    fn access_ids_are_sent_exactly(access_id in any::<String>()) {
        match Distribution::token(&access_id) {
            Err(_) => prop_assert!(access_id.is_empty()),
            Ok(distribution) => {
                let request = DistributeSession::new("s1", distribution).build(&crate::playground()).unwrap();
                let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
                prop_assert_eq!(body["contact_information"]["access_id"].as_str(), Some(access_id.as_str()));
                prop_assert_eq!(body["method"].as_str(), Some("token"));
            }
        }
    }

    #[test]
    fn session_ids_are_sent_exactly_or_refused(id in prop_oneof![any::<String>(), "[A-Za-z0-9._~/%?#-]{0,12}"]) {
        match ReadSession::new(hpp_core::SessionRef::id(id.clone())).build(&crate::playground()) {
            Ok(request) => {
                prop_assert_eq!(request.uri().path(), format!("/hpp/v1/sessions/{id}"));
                prop_assert!(request.uri().query().is_none());
            }
            Err(Error::InvalidInput(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn followed_urls_never_leave_the_origin(url in prop_oneof![
        any::<String>(),
        "https?://[a-z.@:]{0,30}/hpp/v1/sessions/[a-z0-9./%]{0,12}",
    ]) {
        if let Ok(request) = ReadSession::new(hpp_core::SessionRef::url(url)).build(&crate::playground()) {
            prop_assert_eq!(request.uri().scheme_str(), Some("https"));
            prop_assert_eq!(request.uri().authority().map(|a| a.as_str()), Some("api.playground.kustom.co"));
        }
    }

    #[test]
    fn secrets_never_print(
        key in "[A-Za-z0-9]{16,40}",
        user in "[A-Za-z0-9]{12,20}",
        password in "[A-Za-z0-9!#%]{12,30}",
        local in "[a-z]{8,12}",
        domain in "[a-z]{8,12}",
        phone in "[0-9]{9,12}",
    ) {
        let email = format!("{local}@{domain}.com");
        let with_key = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key(&key).unwrap());
        let with_basic = Config::new(Environment::Kustom(Mode::Playground), Credentials::basic(&user, &password).unwrap());
        let distribution = Distribution::email(&email).unwrap();
        let sms = Distribution::sms(&phone, "SE").unwrap();
        let request = DistributeSession::new("s1", distribution.clone()).build(&with_key).unwrap();
        let basic_request = DistributeSession::new("s1", sms.clone()).build(&with_basic).unwrap();
        let echo = response(400, None, format!(r#"{{"error_code":"CONSTRAINT_VIOLATION","error_messages":["Invalid email {email} or phone {phone}"]}}"#).into_bytes());
        let api_error = DistributeSession::new("s1", distribution.clone()).parse(echo).unwrap_err();
        let input_error = Distribution::email(&format!("{email}.")).unwrap_err();
        let phone_error = Distribution::sms(&format!("{phone}x"), "SE").unwrap_err();
        let printed = [
            format!("{with_key:?}"), format!("{with_basic:?}"), format!("{:?}", with_key.credentials()),
            format!("{request:?}"), format!("{basic_request:?}"), format!("{distribution:?}"), format!("{sms:?}"),
            format!("{api_error:?}"), format!("{api_error}"), format!("{input_error:?}"), format!("{input_error}"),
            format!("{phone_error:?}"), format!("{phone_error}"),
        ];
        let basic_header = ReadSession::new("s").build(&with_basic).unwrap().headers()[http::header::AUTHORIZATION].clone();
        let basic_token = basic_header.to_str().unwrap().trim_start_matches("Basic ").to_owned();
        for text in printed {
            for secret in [&key, &password, &basic_token, &email, &local, &phone] {
                prop_assert!(!text.contains(secret.as_str()), "{secret} in {text}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A base URL of any length is refused when accepted would not work, and building every
    /// operation on an accepted one never panics (a 70,000-character base URL once did).
    #[test]
    fn long_base_urls_are_refused_or_work(
        // Around 1024, and just under http's URI length limit, where joining a path once overflowed it.
        prefix_len in prop_oneof![0usize..2_000, 65_400usize..65_600],
        id_len in 1usize..300,
    ) {
        let url = format!("https://api.example.com/{}", "p".repeat(prefix_len));
        let id = "i".repeat(id_len);
        match hpp_core::BaseUrl::parse(&url).map(Environment::Custom) {
            Err(e) => prop_assert!(url.len() > 1024, "{url:.60} refused: {e}"),
            Ok(environment) => {
                let config = Config::new(environment, Credentials::api_key("k").unwrap());
                let built = [
                    CreateSession::new("https://x.example/o").build(&config).map(drop),
                    ReadSession::new(id.as_str()).build(&config).map(drop),
                    DisableSession::new(id.as_str()).build(&config).map(drop),
                    DistributeSession::new(id.as_str(), Distribution::token("t").unwrap()).build(&config).map(drop),
                ];
                for (i, result) in built.into_iter().enumerate() {
                    match result {
                        Ok(()) => prop_assert!(i == 0 || id_len <= 256),
                        Err(Error::InvalidInput(_)) => {}
                        Err(other) => prop_assert!(false, "{other:?}"),
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A phone number the server echoes, in any common grouping, prefix or keyed form, never
    /// reaches an error's Display or Debug: no group of four or more of its digits survives.
    #[test]
    fn echoed_phone_numbers_are_masked_in_any_format(
        digits in "[1-9][0-9]{8,11}",
        cuts in proptest::collection::vec(1usize..4, 1..6),
        separator in prop_oneof![
            Just(" "), Just("-"), Just("."), Just("/"), Just("\u{a0}"),
            // Non-breaking hyphen, en dash, narrow no-break, thin and figure spaces, zero-width space.
            Just("\u{2011}"), Just("\u{2013}"), Just("\u{202f}"), Just("\u{2009}"), Just("\u{2007}"), Just("\u{200b}"),
        ],
        form in prop_oneof![Just("{}"), Just("+{}"), Just("tel:+{}"), Just("phone={}"), Just("({})")],
    ) {
        let mut grouped = String::new();
        let mut rest = digits.as_str();
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (head, tail) = rest.split_at((*cut).min(rest.len()));
            if !grouped.is_empty() { grouped.push_str(separator); }
            grouped.push_str(head);
            rest = tail;
        }
        let shown = form.replace("{}", &grouped);
        let body = format!(r#"{{"error_code":"CONSTRAINT_VIOLATION","error_messages":["Invalid phone {shown}, try again"]}}"#);
        let error = ReadSession::new("s").parse(response(400, None, body.into_bytes())).unwrap_err();
        for printed in [format!("{error}"), format!("{error:?}")] {
            let printed_digits: String = printed.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(!printed_digits.contains(&digits[..digits.len() - 2]), "{shown} -> {printed}");
            prop_assert!(!printed.contains(&grouped), "{shown} -> {printed}");
        }
    }
}

/// One open enum's property: every string converts to exactly one value, which spells it back
/// the same way, through `From` and through serde; a known spelling is never `Other`.
fn one_representation<E>(text: &str, known: &[&str], as_str: fn(&E) -> &str)
where
    E: for<'a> From<&'a str>
        + From<String>
        + PartialEq
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let value = E::from(text);
    assert_eq!(as_str(&value), text);
    assert_eq!(E::from(text.to_owned()), value);
    assert_eq!(E::from(as_str(&value)), value);
    assert_eq!(format!("{value:?}").starts_with("Other("), !known.contains(&text), "{value:?}");
    let json = serde_json::to_string(&value).unwrap();
    assert_eq!(serde_json::from_str::<E>(&json).unwrap(), value);
}

macro_rules! check_open_enums {
    ($text:expr; $($ty:ty),+) => {
        $( one_representation::<$ty>($text, <$ty>::KNOWN, <$ty>::as_str); )+
    };
}

fn known_or_any() -> impl Strategy<Value = String> {
    let mut known: Vec<&'static str> = Vec::new();
    for list in [
        SessionStatus::KNOWN,
        hpp_core::ErrorCode::KNOWN,
        hpp_core::DistributionMethod::KNOWN,
        hpp_core::model::PlaceOrderMode::KNOWN,
        hpp_core::model::PaymentMethodCategory::KNOWN,
        hpp_core::model::PurchaseType::KNOWN,
        hpp_core::model::ShowSubtotalDetail::KNOWN,
    ] {
        known.extend_from_slice(list);
    }
    prop_oneof![proptest::sample::select(known).prop_map(str::to_owned), any::<String>(), "[A-Za-z_]{0,12}"]
}

proptest! {
    #[test]
    fn every_open_enum_value_has_one_representation(text in known_or_any()) {
        check_open_enums!(&text;
            SessionStatus,
            hpp_core::ErrorCode,
            hpp_core::DistributionMethod,
            hpp_core::model::PlaceOrderMode,
            hpp_core::model::PaymentMethodCategory,
            hpp_core::model::PurchaseType,
            hpp_core::model::ShowSubtotalDetail
        );
    }
}
