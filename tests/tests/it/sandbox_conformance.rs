//! One table of scenarios against the sandbox, through both transports: every operation, every
//! distribution error code, auth failures. Both transports must give the same typed results and
//! leave the same outbox.

use hpp_core::{
    Client, Config, CreateSession, Credentials, Distribution, Environment, Error, SessionStatus, Transport,
};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig, SandboxMode};

/// What a step does.
enum Step {
    Create,
    CreateBlankUrl,
    Read(Target),
    Disable(Target),
    Email(Target, &'static str),
    Token(Target, &'static str),
    Sms(Target, &'static str, &'static str),
    /// A raw body to the distribution URL, for inputs the core refuses to build.
    RawDistribution(Target, &'static str),
    Complete(Target),
    ReadWithWrongPassword(Target),
}

/// Which session a step addresses.
#[derive(Clone, Copy)]
enum Target {
    /// The n-th session created in this run, by its returned URL.
    Created(usize),
    /// The n-th session created, by id.
    CreatedId(usize),
    Unknown,
}

fn table() -> Vec<(&'static str, Step, &'static str)> {
    use Step::*;
    use Target::*;
    vec![
        ("create", Create, "ok"),
        ("create a second session", Create, "ok"),
        ("create without payment_session_url", CreateBlankUrl, "invalid_input"),
        ("read by url", Read(Created(0)), "ok WAITING"),
        ("read by id", Read(CreatedId(0)), "ok WAITING"),
        ("read unknown", Read(Unknown), "api 404 NOT_FOUND"),
        ("wrong password", ReadWithWrongPassword(Created(0)), "api 401 -"),
        ("email", Email(Created(0), "jane@example.com"), "ok"),
        ("email by id", Email(CreatedId(0), "john@example.com"), "ok"),
        ("token", Token(Created(0), "klarna:09f4a78d \"quoted\""), "ok"),
        ("malformed email refused locally", Email(Created(0), "jane@example"), "invalid_input"),
        (
            "empty email",
            RawDistribution(Created(0), r#"{"contact_information":{"email":""},"method":"email"}"#),
            "api 400 MISSING_CONTACT_DATA",
        ),
        (
            "missing email",
            RawDistribution(Created(0), r#"{"contact_information":{},"method":"email"}"#),
            "api 400 MISSING_CONTACT_DATA",
        ),
        (
            "malformed email at the server",
            RawDistribution(Created(0), r#"{"contact_information":{"email":"a@b"},"method":"email"}"#),
            "api 400 CONSTRAINT_VIOLATION",
        ),
        (
            "missing method",
            RawDistribution(Created(0), r#"{"contact_information":{"email":"a@b.se"}}"#),
            "api 400 CONSTRAINT_VIOLATION",
        ),
        (
            "unknown method",
            RawDistribution(Created(0), r#"{"contact_information":{"email":"a@b.se"},"method":"pigeon"}"#),
            "api 400 CONSTRAINT_VIOLATION",
        ),
        ("malformed body", RawDistribution(Created(0), "{not json"), "api 400 CONSTRAINT_VIOLATION"),
        ("unknown session", Email(Unknown, "jane@example.com"), "api 404 NOT_FOUND"),
        ("blocked recipient", Email(Created(0), "Blocked@Example.com"), "api 400 BLACKLIST_REFUSED"),
        ("undefined error trigger", Email(Created(0), "unknown-error@example.com"), "api 400 UNKNOWN"),
        ("sms in playground", Sms(Created(0), "07000212345", "SE"), "api 502 BAD_GATEWAY"),
        ("bad phone country refused locally", Sms(Created(0), "07000212345", "XX"), "invalid_input"),
        ("third email uses the quota", Email(Created(1), "jim@example.com"), "ok"),
        ("fourth email is over the quota", Email(Created(1), "joan@example.com"), "api 429 EMAIL_LIMIT_EXCEEDED"),
        ("token is not counted against the e-mail quota", Token(Created(1), "278352"), "ok"),
        ("disable", Disable(Created(1)), "ok"),
        ("read disabled", Read(Created(1)), "ok DISABLED"),
        ("distribute disabled", Token(Created(1), "278352"), "api 400 CONSTRAINT_VIOLATION"),
        ("disable unknown", Disable(Unknown), "api 404 NOT_FOUND"),
        ("consumer completes", Complete(Created(0)), "ok"),
        ("read completed", Read(Created(0)), "ok COMPLETED"),
        ("disable completed", Disable(Created(0)), "api 400 CONSTRAINT_VIOLATION"),
    ]
}

fn outcome<T>(result: Result<T, Error>, detail: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => format!("ok{}", detail(value)),
        Err(Error::InvalidInput(_)) => "invalid_input".to_owned(),
        Err(Error::Api(api)) => {
            format!(
                "api {} {}",
                api.status().as_u16(),
                api.error_code().map_or_else(|| "-".to_owned(), ToString::to_string)
            )
        }
        Err(other) => format!("unexpected {other}"),
    }
}

/// One exchange, as the spec check needs it.
struct Exchange {
    method: String,
    path: String,
    /// The request body, when the SDK built it (raw steps send deliberately bad ones).
    sdk_body: Option<Vec<u8>>,
    status: u16,
    body: Vec<u8>,
}

type Exchanges = std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>;

/// `transport`, keeping every exchange in `exchanges`.
fn recording<T: Transport + Clone + Send + Sync + 'static>(
    transport: T,
    exchanges: Exchanges,
    sdk_built: bool,
) -> impl Transport + Clone {
    move |request: hpp_core::Request| {
        let (transport, exchanges) = (transport.clone(), exchanges.clone());
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let sdk_body = sdk_built.then(|| request.body().clone());
        async move {
            let response = transport.send(request).await?;
            let exchange =
                Exchange { method, path, sdk_body, status: response.status().as_u16(), body: response.body().clone() };
            exchanges.lock().unwrap().push(exchange);
            Ok(response)
        }
    }
}

/// Every exchange against the published spec: SDK-built requests against the request schemas
/// (unknown properties forbidden), every response against its operation and status.
fn check_against_the_spec(exchanges: &[Exchange]) {
    let spec = hpp_tests::spec::Spec::load();
    let mut failures = Vec::new();
    for e in exchanges {
        if let Some(body) = &e.sdk_body {
            failures.extend(spec.check_request(&e.method, &e.path, body).err());
        }
        failures.extend(spec.check_response(&e.method, &e.path, e.status, &e.body).err());
    }
    assert!(failures.is_empty(), "the sandbox or the SDK disagrees with the published spec:\n{}", failures.join("\n"));
}

async fn run_table<T: Transport + Clone + Send + Sync + 'static>(transport: T) -> (Vec<String>, Vec<(String, String)>) {
    let exchanges = Exchanges::default();
    let sdk = recording(transport.clone(), exchanges.clone(), true);
    let raw = recording(transport.clone(), exchanges.clone(), false);
    let mut config = SandboxConfig::default();
    config.email_limit = 3;
    config.blocked = vec!["blocked@example.com".to_owned()];
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = Client::new(sandbox.client_config(), sdk.clone(), hpp_runtime::TokioTimer::new());
    let mut created = Vec::new();
    let mut results = Vec::new();
    let resolve = |created: &Vec<hpp_core::SessionCreated>, target: Target, distribution: bool| match target {
        Target::Created(n) if distribution => created[n].distribution_url.clone().unwrap(),
        Target::Created(n) => created[n].session_url.clone().unwrap(),
        Target::CreatedId(n) => created[n].session_id.clone().unwrap(),
        Target::Unknown => "00000000-0000-4000-8000-000000000000".to_owned(),
    };
    for (name, step, expected) in table() {
        let got = match step {
            Step::Create => {
                let result = client
                    .create_session(&CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1"))
                    .await;
                outcome(result, |c| {
                    created.push(c);
                    String::new()
                })
            }
            Step::CreateBlankUrl => outcome(client.create_session(&CreateSession::new("")).await, |_| String::new()),
            Step::Read(t) => outcome(client.read_session(resolve(&created, t, false)).await, |s| {
                format!(" {}", s.status.map(|s| s.to_string()).unwrap_or_default())
            }),
            Step::Disable(t) => outcome(client.disable_session(resolve(&created, t, false)).await, |()| String::new()),
            Step::Email(t, address) => match Distribution::email(address) {
                Ok(d) => outcome(client.distribute_session(resolve(&created, t, true), d).await, |()| String::new()),
                Err(e) => outcome::<()>(Err(e.into()), |()| String::new()),
            },
            Step::Token(t, id) => outcome(
                client.distribute_session(resolve(&created, t, true), Distribution::token(id).unwrap()).await,
                |()| String::new(),
            ),
            Step::Sms(t, phone, country) => match Distribution::sms(phone, country) {
                Ok(d) => outcome(client.distribute_session(resolve(&created, t, true), d).await, |()| String::new()),
                Err(e) => outcome::<()>(Err(e.into()), |()| String::new()),
            },
            Step::RawDistribution(t, body) => {
                let url = resolve(&created, t, true);
                let mut request = http::Request::post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_bytes().to_vec())
                    .unwrap();
                request
                    .headers_mut()
                    .insert("authorization", crate::authorization(client.config().credentials().clone()));
                let response = raw.send(request).await.unwrap();
                let op = hpp_core::DistributeSession::new(url, Distribution::token("x").unwrap());
                outcome(hpp_core::Operation::parse(&op, response), |()| String::new())
            }
            Step::Complete(t) => {
                let Target::Created(n) = t else { unreachable!() };
                let id = created[n].session_id.clone().unwrap();
                let completed = sandbox.set_status(&id, SessionStatus::Completed).expect("a live session");
                outcome(Ok(completed), |s| {
                    if s.status == Some(SessionStatus::Completed) { String::new() } else { " ?".into() }
                })
            }
            Step::ReadWithWrongPassword(t) => {
                let env = hpp_core::BaseUrl::parse(sandbox.base_url()).map(Environment::Custom).unwrap();
                let wrong = Client::new(
                    Config::new(env, Credentials::basic(sandbox.username(), "wrong").unwrap()),
                    sdk.clone(),
                    hpp_runtime::TokioTimer::new(),
                );
                outcome(wrong.read_session(resolve(&created, t, false)).await, |_| String::new())
            }
        };
        assert_eq!(got, expected, "scenario {name:?}");
        results.push(got);
    }
    let outbox = sandbox.outbox().into_iter().map(|m| (m.method, m.recipient)).collect();
    sandbox.stop().await;
    let exchanges = std::mem::take(&mut *exchanges.lock().unwrap());
    assert!(exchanges.len() >= results.len() - 4, "every step that reached the sandbox was recorded");
    check_against_the_spec(&exchanges);
    (results, outbox)
}

#[tokio::test]
async fn both_transports_agree_on_every_scenario() {
    let (reqwest_results, reqwest_outbox) = run_table(ReqwestTransport::new().unwrap()).await;
    let (hyper_results, hyper_outbox) = run_table(HyperTransport::new()).await;
    assert_eq!(reqwest_results, hyper_results);
    assert_eq!(reqwest_outbox, hyper_outbox);
    let expected: Vec<(String, String)> = [
        ("email", "jane@example.com"),
        ("email", "john@example.com"),
        ("token", "klarna:09f4a78d \"quoted\""),
        ("email", "jim@example.com"),
        ("token", "278352"),
    ]
    .iter()
    .map(|(m, r)| (m.to_string(), r.to_string()))
    .collect();
    assert_eq!(reqwest_outbox, expected, "exactly these messages went out, once each");
}

#[tokio::test]
async fn production_mode_sends_sms_to_served_countries_only() {
    let mut config = SandboxConfig::default();
    config.mode = SandboxMode::Production;
    let sandbox = Sandbox::start(config).await.unwrap();
    for transport_name in ["reqwest", "hyper"] {
        let config = sandbox.client_config();
        let created;
        let (ok, unsupported) = if transport_name == "reqwest" {
            let client = Client::new(config, ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
            created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
            let url = created.distribution_url.clone().unwrap();
            (
                client.distribute_session(&url, Distribution::sms("07000212345", "SE").unwrap()).await,
                client.distribute_session(&url, Distribution::sms("2025550123", "US").unwrap()).await,
            )
        } else {
            let client = Client::new(config, HyperTransport::new(), hpp_runtime::TokioTimer::new());
            created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
            let url = created.distribution_url.clone().unwrap();
            (
                client.distribute_session(&url, Distribution::sms("07000212345", "SE").unwrap()).await,
                client.distribute_session(&url, Distribution::sms("2025550123", "US").unwrap()).await,
            )
        };
        assert!(ok.is_ok(), "{transport_name}: {ok:?}");
        assert_eq!(outcome(unsupported, |()| String::new()), "api 400 UNSUPPORTED_COUNTRY");
    }
    let phones: Vec<String> = sandbox.outbox().into_iter().map(|m| m.recipient).collect();
    assert_eq!(phones, ["07000212345", "07000212345"]);
}

#[tokio::test]
async fn concurrent_distributions_are_counted_exactly() {
    let mut config = SandboxConfig::default();
    config.email_limit = 50;
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = std::sync::Arc::new(Client::new(
        sandbox.client_config(),
        HyperTransport::new(),
        hpp_runtime::TokioTimer::new(),
    ));
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
    let url = created.distribution_url.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..80 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            client.distribute_session(&url, Distribution::email(&format!("user{i}@example.com")).unwrap()).await
        });
    }
    let (mut sent, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(()) => sent += 1,
            Err(e) if e.error_code() == Some(&hpp_core::ErrorCode::EmailLimitExceeded) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((sent, refused), (50, 30));
    let outbox = sandbox.outbox();
    assert_eq!(outbox.len(), 50);
    let mut recipients: Vec<_> = outbox.iter().map(|m| m.recipient.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 50, "no message was recorded twice");
}
