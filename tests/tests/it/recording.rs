//! hpp-testing from a user's side: snapshots of what a wrapper sends, cassettes recorded from the
//! sandbox through both transports and replayed with no server, determinism byte for byte, and
//! no planted secret or personal data in any rendering or cassette.

use std::path::PathBuf;

use hpp_core::callback::CallbackSecret;
use hpp_core::{
    Client, Config, CreateSession, Credentials, DistributeSession, Distribution, Environment, Operation, ReadSession,
    Transport,
};
use hpp_hyper::{HyperTransport, TokioTimer};
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig, SandboxMode};
use hpp_testing::VirtualTimer;
use hpp_testing::{Recorder, Redactor, Replayer, render_request};
use proptest::prelude::*;

const PASSWORD: &str = "planted-password-Zq8w4kLm";
const EMAIL: &str = "planted.person@secret-domain.example";
const PHONE: &str = "+46 70 123 45 67";
const ACCESS_ID: &str = "planted-access-id-7f3a9c";
const CALLBACK_SECRET: &str = "plantedcallbacksecret0123456789";

/// A user's wrapper: sends the pay link for an order by e-mail.
async fn send_pay_link<T: Transport>(
    client: &Client<T>,
    distribution_url: &str,
    email: &str,
) -> Result<(), hpp_core::Error> {
    client.distribute_session(distribution_url, Distribution::email(email)?).await
}

/// The story every recording and replay runs: results rendered with one redactor.
async fn story<T: Transport>(client: &Client<T>, sandbox: Option<&Sandbox>) -> String {
    let mut results = Redactor::new();
    let mut out = String::new();
    let secret = CallbackSecret::new(CALLBACK_SECRET).unwrap();
    let status_update = secret.append_to("https://shop.example/callbacks?sid={{session_id}}");
    let urls = crate::merchant_urls(&[
        ("success", "https://shop.example/ok?sid={{session_id}}"),
        ("status_update", &status_update),
    ]);
    // The normal order URL: on the playground's host, which a replay's configuration may name too.
    let order_url = "https://api.playground.kustom.co/checkout/v3/orders/1";
    let created = client.create_session(&crate::create(order_url, urls)).await;
    out.push_str(&results.debug(&created));
    let created = created.unwrap();
    let distribution_url = created.distribution_url.clone().unwrap();
    out.push_str(&results.debug(&send_pay_link(client, &distribution_url, EMAIL).await));
    out.push_str(
        &results.debug(&client.distribute_session(&distribution_url, Distribution::sms(PHONE, "SE").unwrap()).await),
    );
    out.push_str(
        &results.debug(&client.distribute_session(&distribution_url, Distribution::token(ACCESS_ID).unwrap()).await),
    );
    if let Some(sandbox) = sandbox {
        sandbox.set_status(created.session_id.as_deref().unwrap(), hpp_core::SessionStatus::Completed);
    }
    out.push_str(&results.debug(&client.read_session(created.session_url.as_deref().unwrap()).await));
    out.push_str(&results.debug(&client.read_session("00000000-0000-4000-8000-00000000dead").await));
    out
}

fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.mode = SandboxMode::Production;
    config.credentials = Some(("planted-user".into(), PASSWORD.into()));
    config
}

fn cassette_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hpp-recording-{}-{name}.cassette", std::process::id()))
}

/// Records the story through `transport` against a fresh sandbox: (results, cassette text).
async fn record<T: Transport + Clone>(transport: T, name: &str) -> (String, String) {
    let sandbox = Sandbox::start(sandbox_config()).await.unwrap();
    let path = cassette_path(name);
    let recorder = Recorder::new(transport, &path);
    let client = Client::new(sandbox.client_config(), recorder.clone(), TokioTimer::new());
    let results = story(&client, Some(&sandbox)).await;
    let cassette = std::fs::read_to_string(&path).unwrap();
    assert_eq!(cassette, recorder.cassette());
    let _ = std::fs::remove_file(&path);
    (results, cassette)
}

fn planted_secrets() -> Vec<String> {
    let basic = crate::authorization(Credentials::basic("planted-user", PASSWORD).unwrap());
    let basic = basic.to_str().unwrap().trim_start_matches("Basic ").to_owned();
    let phone_digits: String = PHONE.chars().filter(char::is_ascii_digit).collect();
    vec![
        PASSWORD.into(),
        basic,
        EMAIL.into(),
        "planted.person".into(),
        PHONE.into(),
        phone_digits[..phone_digits.len() - 2].to_owned(),
        ACCESS_ID.into(),
        CALLBACK_SECRET.into(),
    ]
}

#[tokio::test]
async fn recordings_through_both_transports_are_identical_and_replay_with_no_server() {
    let (hyper_results, hyper_cassette) = record(HyperTransport::new(), "hyper").await;
    let (reqwest_results, reqwest_cassette) = record(ReqwestTransport::new().unwrap(), "reqwest").await;
    // Two runs (fresh ids, times, ports, transports): the same bytes.
    assert_eq!(hyper_cassette, reqwest_cassette);
    assert_eq!(hyper_results, reqwest_results);
    for secret in planted_secrets() {
        assert!(!hyper_cassette.contains(&secret), "{secret} is in the cassette:\n{hyper_cassette}");
        assert!(!hyper_results.contains(&secret), "{secret} is in the results:\n{hyper_results}");
    }
    insta::assert_snapshot!("story_cassette", hyper_cassette);
    insta::assert_snapshot!("story_results", hyper_results);

    // Replayed: no server, no waiting, the same results.
    let replayer = Replayer::from_cassette(&hyper_cassette).unwrap();
    let config = Config::new(
        hpp_core::BaseUrl::parse("http://127.0.0.1:9").map(Environment::Custom).unwrap(),
        Credentials::basic("anyone", "anything").unwrap(),
    );
    let client = Client::new(config, replayer.clone(), VirtualTimer::new());
    assert_eq!(story(&client, None).await, hyper_results);
    replayer.assert_all_used();

    // Under any base URL: the playground's, production's, a gateway's with a path prefix.
    for base_url in ["https://api.playground.kustom.co", "https://api.kustom.co", "https://gw.example/kustom"] {
        let replayer = Replayer::from_cassette(&hyper_cassette).unwrap();
        let config = Config::new(
            hpp_core::BaseUrl::parse(base_url).map(Environment::Custom).unwrap(),
            Credentials::api_key("kco_test_api_anything").unwrap(),
        );
        let client = Client::new(config, replayer.clone(), VirtualTimer::new());
        assert_eq!(story(&client, None).await, hyper_results, "replayed under {base_url}");
        replayer.assert_all_used();
    }
    // Issue 37: under the playground's own configuration (whose host the order URL is on), the
    // requests render as they were recorded: the order URL is not taken for the base URL.
    let replayer = Replayer::from_cassette(&hyper_cassette).unwrap();
    let config = Config::new(
        Environment::Kustom(hpp_core::Mode::Playground),
        Credentials::api_key("kco_test_api_anything").unwrap(),
    );
    let client = Client::new(config, replayer.clone(), VirtualTimer::new());
    assert_eq!(story(&client, None).await, hyper_results, "replayed under the playground's configuration");
    replayer.assert_all_used();
}

#[tokio::test]
async fn a_replay_refuses_unexpected_requests_and_reports_unused_ones() {
    let (_, cassette) = record(HyperTransport::new(), "refusals").await;
    let replayer = Replayer::from_cassette(&cassette).unwrap();
    let config = Config::new(
        hpp_core::BaseUrl::parse("http://127.0.0.1:9").map(Environment::Custom).unwrap(),
        Credentials::api_key("k").unwrap(),
    );
    let client = Client::new(config, replayer.clone(), VirtualTimer::new());
    // Not in the cassette: a different order URL.
    let error = client.create_session(&CreateSession::new("https://x.example/orders/2")).await.unwrap_err();
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen, "{error}");
    let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    // One line, naming the request and what to do.
    assert!(cause.starts_with("the cassette has no request `POST /hpp/v1/sessions` left to replay"), "{cause}");
    assert!(cause.contains("record the cassette again") && !cause.contains('\n'), "{cause}");
    assert!(client.create_session(&CreateSession::new("https://x.example/orders/2")).await.is_err());
    let report = std::panic::catch_unwind(|| replayer.assert_all_used()).unwrap_err();
    let report = report.downcast_ref::<String>().unwrap();
    assert!(report.contains("unexpected request (not in the cassette)"), "{report}");
    assert!(report.contains("\"payment_session_url\": \"https://x.example/orders/2\""), "{report}");
    assert!(report.contains("recorded but never requested"), "{report}");
    assert_eq!(
        report.matches("unexpected request").count(),
        1,
        "reported once, retries and repeats included: {report}"
    );
    assert!(Replayer::from_cassette("not a cassette").is_err());
}

fn playground() -> Config {
    Config::new(
        Environment::Kustom(hpp_core::Mode::Playground),
        Credentials::api_key("kco_test_api_SECRETKEY123").unwrap(),
    )
}

/// What the wrapper sends, pinned: a snapshot a user keeps in their own suite.
#[tokio::test]
async fn the_wrapper_sends_what_the_snapshot_pins() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = move |request: hpp_core::Request| {
        log.lock().unwrap().push(render_request(&request));
        async { Ok::<_, hpp_core::TransportError>(http::Response::builder().status(201).body(Vec::new()).unwrap()) }
    };
    let client = Client::new(playground(), transport, VirtualTimer::new());
    let url = "https://api.playground.kustom.co/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436/distribution";
    send_pay_link(&client, url, EMAIL).await.unwrap();
    let sent = seen.lock().unwrap().pop().unwrap();
    insta::assert_snapshot!("wrapper_request", sent);

    // A deliberate change in the wrapper (SMS instead of e-mail) makes the snapshot differ, and
    // the difference reads as what changed.
    let changed = render_request(
        &DistributeSession::new(url, Distribution::sms(PHONE, "SE").unwrap()).build(&playground()).unwrap(),
    );
    let diff: Vec<String> = line_diff(&sent, &changed);
    assert_eq!(
        diff,
        [
            "-    \"email\": \"p***@s***.example\"",
            "+    \"phone\": \"*********67\",",
            "+    \"phone_country\": \"SE\"",
            "-  \"method\": \"email\"",
            "+  \"method\": \"sms\"",
        ],
        "{sent}\n{changed}"
    );
}

/// The lines only in `old` (`-`) or only in `new` (`+`), in order: enough to show a readable change.
fn line_diff(old: &str, new: &str) -> Vec<String> {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < old.len() && !new[j..].contains(&old[i]) {
            out.push(format!("-{}", old[i]));
            i += 1;
        } else if j < new.len() {
            out.push(format!("+{}", new[j]));
            j += 1;
        } else {
            out.push(format!("-{}", old[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn every_fixture_response_renders_stably() {
    let root = hpp_tests::fixture::root();
    let mut out = String::new();
    for path in &hpp_tests::fixture::all() {
        let response = hpp_tests::fixture::load(path).response;
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let first = hpp_testing::render_response(&response);
        assert_eq!(first, hpp_testing::render_response(&response), "{name}: stable");
        out.push_str(&format!("=== {name}\n{first}\n"));
    }
    insta::assert_snapshot!("fixture_responses", out);
}

#[test]
fn every_operation_renders_stably() {
    let url = "https://api.playground.kustom.co/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436";
    let requests = [
        crate::create(
            "https://api.playground.kustom.co/checkout/v3/orders/1",
            crate::merchant_urls(&[("status_update", &format!("https://shop.example/cb?secret={CALLBACK_SECRET}"))]),
        )
        .build(&playground())
        .unwrap(),
        ReadSession::new(url).build(&playground()).unwrap(),
        hpp_core::DisableSession::new(url).build(&playground()).unwrap(),
        DistributeSession::new(format!("{url}/distribution").as_str(), Distribution::token(ACCESS_ID).unwrap())
            .build(&playground())
            .unwrap(),
    ];
    let mut redactor = Redactor::new();
    let out: String = requests.iter().map(|r| redactor.request(r) + "\n").collect();
    insta::assert_snapshot!("operations", out);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Generated credentials, callback secrets, e-mail addresses, phone numbers and access ids
    /// never appear in a rendering.
    #[test]
    fn planted_secrets_never_render(
        key in "kco_test_api_[A-Za-z0-9]{16,32}",
        secret in "[A-Za-z0-9]{16,40}",
        local in "[a-z]{4,12}\\.[a-z]{4,12}",
        domain in "[a-z]{5,12}\\.(se|com|example)",
        phone in "\\+46 7[0-9] [0-9]{3} [0-9]{2} [0-9]{2}",
        access_id in "[a-z0-9]{8,24}",
    ) {
        let email = format!("{local}@{domain}");
        let config = Config::new(Environment::Kustom(hpp_core::Mode::Playground), Credentials::api_key(&key).unwrap());
        let callback = CallbackSecret::new(secret.clone()).unwrap().append_to("https://shop.example/cb");
        let mut redactor = Redactor::new();
        let rendered = [
            redactor.request(&crate::create("https://x.example/o", crate::merchant_urls(&[("status_update", &callback)])).build(&config).unwrap()),
            redactor.request(&DistributeSession::new("s1", Distribution::email(&email).unwrap()).build(&config).unwrap()),
            redactor.request(&DistributeSession::new("s1", Distribution::sms(&phone, "SE").unwrap()).build(&config).unwrap()),
            redactor.request(&DistributeSession::new("s1", Distribution::token(&access_id).unwrap()).build(&config).unwrap()),
            redactor.response(&http::Response::builder().status(400).body(format!(r#"{{"error_messages":["{email} / {phone} refused"]}}"#).into_bytes()).unwrap()),
        ]
        .join("\n");
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        for planted in [key.as_str(), secret.as_str(), email.as_str(), local.as_str(), phone.as_str(), &digits[..digits.len() - 2], access_id.as_str()] {
            prop_assert!(!rendered.contains(planted), "{planted} in:\n{rendered}");
        }
    }
}

proptest! {
    /// Ids that change every run become the same placeholder whatever their digits: a
    /// correlation id starting with a long run of digits was once scrubbed as a phone number
    /// first, so its placeholder never matched and a cassette differed between two runs.
    #[test]
    fn changing_ids_become_placeholders_whatever_their_digits(
        digits in "[0-9]{8}",
        rest in "[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}",
    ) {
        let id = format!("{digits}-{rest}");
        let body = format!(r#"{{"correlation_id":"{id}","error_code":"NOT_FOUND","session_id":"{id}x"}}"#);
        let response = http::Response::builder().status(404).body(body.into_bytes()).unwrap();
        let rendered = Redactor::new().response(&response);
        prop_assert!(rendered.contains(r#""correlation_id": "[correlation-1]""#), "{rendered}");
        prop_assert!(!rendered.contains(&digits[2..]), "{rendered}");
        // Inside a URL that comes before the field naming the id (keys are sorted), too.
        let created = format!(r#"{{"a_url":"https://x.example/hpp/v1/sessions/{id}/distribution","session_id":"{id}"}}"#);
        let response = http::Response::builder().status(201).body(created.into_bytes()).unwrap();
        let rendered = Redactor::new().response(&response);
        prop_assert!(rendered.contains("sessions/[session-1]/distribution"), "{rendered}");
    }
}

/// Renders a request to `uri` with these extra headers and this body, and a response with the
/// same body, through one redactor; also that redactor's own `Debug`.
fn render_everywhere(uri: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut request = http::Request::builder().method("POST").uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.as_bytes().to_vec()).unwrap();
    let mut response = http::Response::builder().status(400);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    let response = response.body(body.as_bytes().to_vec()).unwrap();
    let mut redactor = Redactor::new();
    let rendered = [redactor.request(&request), redactor.response(&response), format!("{redactor:?}")];
    rendered.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A secret, an e-mail address, a phone number (grouped any way a person or a server writes
    /// one) or a national id planted everywhere a value can go (the request line's path and query,
    /// a credential-like header, a JSON string under any key, a JSON number, an object key, a
    /// status_update URL's path and query, free text) never appears in a rendering, nor in the
    /// Redactor's Debug.
    #[test]
    fn planted_values_never_render_wherever_they_are(
        secret in "[A-Za-z0-9]{20,32}",
        local in "[a-z]{4,10}\\.[a-z]{4,10}",
        domain in "[a-z]{5,10}\\.(se|com)",
        digits in "7[0-9]{8}",
        separator in prop_oneof![
            Just(" "), Just("-"), Just("\u{2011}"), Just("\u{2013}"), Just("\u{202f}"), Just("\u{2009}"), Just("\u{2007}"),
        ],
        query_key in prop_oneof![Just("secret"), Just("token"), Just("key"), Just("sig"), Just("api_key"), Just("access_token")],
        header in prop_oneof![Just("x-api-key"), Just("api-key"), Just("x-auth-token"), Just("x-access-token"), Just("x-callback-secret")],
        where_ in 0usize..9,
    ) {
        let email = format!("{local}@{domain}");
        let phone = format!("+46{separator}{}{separator}{}{separator}{}", &digits[..2], &digits[2..5], &digits[5..]);
        let number = format!("46{digits}");
        let base = "https://api.playground.kustom.co/hpp/v1/sessions";
        let text_body = |value: &str| format!(r#"{{"error_messages":["refused: {value}"]}}"#);
        let (uri, headers, body): (String, Vec<(&str, String)>, String) = match where_ {
            0 => (format!("{base}?{query_key}={secret}&email={email}&phone={number}"), vec![], String::new()),
            1 => (format!("{base}/{email}/{number}"), vec![], String::new()),
            2 => (base.into(), vec![(header, secret.clone())], String::new()),
            3 => (base.into(), vec![], format!(r#"{{"note":"{phone} / {email}","phone":{number},"national_identification_number":{number}}}"#)),
            4 => (base.into(), vec![], format!(r#"{{"contacts":{{"{email}":true,"{phone}":1}}}}"#)),
            5 => (base.into(), vec![], format!(r#"{{"merchant_urls":{{"status_update":"https://shop.example/cb/{secret}?{query_key}={secret}"}}}}"#)),
            6 => (base.into(), vec![], format!("not json: {email} {phone} {query_key}={secret}")),
            7 => (base.into(), vec![], text_body(&phone)),
            _ => (base.into(), vec![], format!(r#"{{"unknown_number":{number},"list":[{number}]}}"#)),
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let rendered = render_everywhere(&uri, &headers, &body);
        let rendered_digits: String = rendered.chars().filter(char::is_ascii_digit).collect();
        for planted in [secret.as_str(), email.as_str(), local.as_str(), phone.as_str()] {
            prop_assert!(!rendered.contains(planted), "{planted} in:\n{rendered}");
        }
        prop_assert!(!rendered_digits.contains(&digits[..digits.len() - 2]), "{digits} in:\n{rendered}");
    }
}

/// A recorded body cannot forge exchanges: a 502 whose text body holds what looks like a further
/// exchange (answering COMPLETED) replays as recorded, 502 then WAITING; and a cassette that does
/// not parse exactly (a length changed, text added) is refused, not read leniently.
#[tokio::test]
async fn recorded_bodies_cannot_forge_exchanges() {
    let forged = "bad gateway\n\n### exchange 2\n>>> request\nGET /hpp/v1/sessions/s-1\naccept: application/json\n\n\
                  <<< response\n200 OK\ncontent-type: application/json\n\n{\"status\":\"COMPLETED\"}\n";
    let answers = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from([
        http::Response::builder()
            .status(502)
            .header("content-type", "text/plain")
            .body(forged.as_bytes().to_vec())
            .unwrap(),
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(br#"{"session_id":"s-1","status":"WAITING"}"#.to_vec())
            .unwrap(),
    ])));
    let scripted = move |_request: hpp_core::Request| {
        let answer = answers.lock().unwrap().pop_front().unwrap();
        async move { Ok::<_, hpp_core::TransportError>(answer) }
    };
    let path = cassette_path("forged");
    let recorder = Recorder::new(scripted, &path);
    let config = playground();
    let read = || ReadSession::new("s-1").build(&config).unwrap();
    let recorded = [recorder.send(read()).await.unwrap().status(), recorder.send(read()).await.unwrap().status()];
    assert_eq!(recorded, [502, 200]);
    let cassette = recorder.cassette();
    let _ = std::fs::remove_file(&path);

    let replayer = Replayer::from_cassette(&cassette).unwrap();
    let first = replayer.send(read()).await.unwrap();
    // (A replayed text body loses its final newline: the rendering ends every body with one.)
    assert_eq!((first.status().as_u16(), first.body().as_slice()), (502, forged.trim_end().as_bytes()));
    let second = replayer.send(read()).await.unwrap();
    let session = ReadSession::new("s-1").parse(second).unwrap();
    assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting), "the forged exchange was replayed");
    replayer.assert_all_used();

    // Not exactly a cassette: refused, saying where.
    for (change, broken) in [
        ("a byte added to a body", cassette.replacen("bad gateway", "bad  gateway", 1)),
        ("text after the last exchange", format!("{cassette}\n### exchange 3\n")),
        ("an exchange cut short", cassette[..cassette.len() - 10].to_owned()),
        ("exchanges renumbered", {
            let at = cassette.rfind("### exchange 2").unwrap(); // the real one, after the forged
            format!("{}### exchange 7{}", &cassette[..at], &cassette[at + "### exchange 2".len()..])
        }),
    ] {
        assert!(Replayer::from_cassette(&broken).is_err(), "{change}: accepted");
    }
}

/// `wire` and the `Redactor` mask headers by one rule: a header named like a credential is
/// masked by both, whatever its name (`wire` printed all but four of them in clear).
#[test]
fn wire_and_the_redactor_mask_the_same_headers() {
    for name in ["x-api-key", "x-shop-secret", "x-client-signature", "x-session-token", "proxy-authorization"] {
        let request = http::Request::builder()
            .method("GET")
            .uri("https://api.example/hpp/v1/sessions/s1")
            .header(name, "planted-credential-8f2a")
            .body(Vec::new())
            .unwrap();
        let wire = hpp_testing::wire(&request);
        let rendered = render_request(&request);
        assert!(!wire.contains("planted-credential-8f2a"), "wire shows {name}:\n{wire}");
        assert!(!rendered.contains("planted-credential-8f2a"), "the Redactor shows {name}:\n{rendered}");
    }
}
