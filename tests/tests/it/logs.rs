//! The logs of a full run, captured at TRACE with planted secrets, contain none of them, but do
//! contain what an operator needs (operation, URL template, status, attempt, correlation id).

use std::io::Write;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use hpp_core::{
    Client, Config, CreateSession, Credentials, Distribution, Environment, Transport, WatchOptions, WatchOutcome,
};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Fault, Sandbox, SandboxConfig, SandboxMode};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `run` with every log line captured at TRACE; what it returned, and the logs.
fn capture<T>(run: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, run);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (result, logs)
}

const EMAIL: &str = "planted.person@secret-domain.example";
const BLOCKED: &str = "blocked.person@secret-domain.example";
const PHONE: &str = "0701234567";
const ACCESS_ID: &str = "planted-access-id-7f3a9c";
const PASSWORD: &str = "planted-password-Zq8w";

/// Runs every operation and a watch through failing reads; returns the session ids it used.
async fn full_run<T: Transport + Clone>(transport: T) -> Vec<String> {
    let mut config = SandboxConfig::default();
    config.mode = SandboxMode::Production;
    config.credentials = Some(("planted-user".into(), PASSWORD.into()));
    config.blocked = vec![BLOCKED.into()];
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = Client::new(sandbox.client_config(), transport.clone(), hpp_runtime::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/orders/1")).await.unwrap();
    let url = created.distribution_url.clone().unwrap();
    client.distribute_session(&url, Distribution::email(EMAIL).unwrap()).await.unwrap();
    client.distribute_session(&url, Distribution::token(ACCESS_ID).unwrap()).await.unwrap();
    client.distribute_session(&url, Distribution::sms(PHONE, "SE").unwrap()).await.unwrap();
    assert!(client.distribute_session(&url, Distribution::email(BLOCKED).unwrap()).await.is_err());
    client.read_session(created.session_url.as_ref().unwrap()).await.unwrap();
    client.disable_session(created.session_id.as_ref().unwrap()).await.unwrap();
    let key = Config::new(
        hpp_core::BaseUrl::parse(sandbox.base_url()).map(Environment::Custom).unwrap(),
        Credentials::api_key(PASSWORD).unwrap(),
    );
    Client::new(key, transport.clone(), hpp_runtime::TokioTimer::new())
        .read_session(created.session_id.clone().unwrap())
        .await
        .unwrap();

    // A watch whose reads fail (the transport's error text names the URL, with the id in it).
    let watched = client.create_session(&CreateSession::new("https://x.example/orders/2")).await.unwrap();
    sandbox.inject_faults([Fault::ResetBeforeRead, Fault::ResetAfterRead, Fault::ResetBeforeRead]);
    sandbox.set_status(watched.session_id.as_deref().unwrap(), hpp_core::SessionStatus::Completed);
    let once = client.clone().with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let options = WatchOptions::default().with_interval(Duration::from_millis(5), Duration::from_millis(5));
    let outcome = once.wait_for_final_status(watched.session_url.as_deref().unwrap(), &options, |_| {}).await;
    assert!(matches!(outcome, Ok(WatchOutcome::Final(_))), "{outcome:?}");
    sandbox.stop().await;
    vec![created.session_id.unwrap(), watched.session_id.unwrap()]
}

#[test]
fn logs_carry_no_secrets_or_contact_data() {
    let (ids, logs) = capture(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut ids = runtime.block_on(full_run(ReqwestTransport::new().unwrap()));
        ids.extend(runtime.block_on(full_run(HyperTransport::new())));
        ids
    });
    for expected in [
        "distribute_session",
        "/hpp/v1/sessions/{session_id}/distribution",
        "attempt",
        "BLACKLIST_REFUSED",
        "correlation_id",
        "watch: read failed",
        // OpenTelemetry's HTTP client names (issue 35), no ids.
        "url.template=\"/hpp/v1/sessions/{session_id}/distribution\"",
        "http.request.method=POST",
        "server.address=\"127.0.0.1\"",
        "http.response.status_code=400",
        "error.type=400",
        "error.type=\"other\"",
    ] {
        assert!(logs.contains(expected), "logs lack {expected}:\n{logs}");
    }
    let basic = crate::authorization(Credentials::basic("planted-user", PASSWORD).unwrap());
    let basic = basic.to_str().unwrap().trim_start_matches("Basic ").to_owned();
    for secret in [EMAIL, BLOCKED, "planted.person", PHONE, ACCESS_ID, PASSWORD, &basic] {
        assert!(!logs.contains(secret), "{secret} appears in the logs:\n{logs}");
    }
    for id in &ids {
        assert!(!logs.contains(id.as_str()), "session id {id} (a URL with it) appears in the logs:\n{logs}");
    }
}

/// The tracker's hand-off for the log test: fails for one session, to log that path too.
struct LoggedApp;

impl hpp_core::tracking::HandOff<hpp_core::tracking::MemoryStore> for LoggedApp {
    async fn hand_off(
        &self,
        _tx: &mut (),
        finished: &hpp_core::tracking::Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if finished.session_id.ends_with("-refused") {
            return Err(format!("the app refused {} for {EMAIL}", finished.session_id).into());
        }
        Ok(())
    }
}

#[test]
fn the_tracker_logs_no_ids_tokens_or_secrets() {
    use hpp_core::Timer;
    use hpp_core::tracking::{Input, MemoryStore, TrackingStore};
    use tower_service::Service;

    const SECRET: &str = "planted-callback-secret-5e1f";
    const SESSION: &str = "planted-session-9d2e";
    const EVENT: &str = "planted-event-41a";
    const TOKEN: &str = "planted-token-77c1";
    let ((), logs) = capture(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // Callbacks taken at their word, for sessions never tracked: every path of the
            // receiver logs (applied, duplicate, a refused hand-off).
            let mut policy = hpp_core::tracking::TrackingPolicy::default();
            policy.confirm_callbacks = false;
            policy.track_unknown_sessions = true;
            let store = Arc::new(MemoryStore::new(policy));
            let secret = hpp_core::callback::CallbackSecret::new(SECRET).unwrap();
            let receiver = hpp_tracker::CallbackReceiver::new(
                store.clone(),
                Arc::new(LoggedApp),
                secret,
                hpp_testing::VirtualTimer::new(),
            );
            let mut router: axum::Router = receiver.router("/cb");
            let uri = format!("/cb?secret={SECRET}");
            for (session, event) in
                [(SESSION.to_owned(), EVENT.to_owned()), (format!("{SESSION}-refused"), format!("{EVENT}-2"))]
            {
                let body = serde_json::json!({
                    "event_id": event,
                    "session": {"session_id": session, "status": "COMPLETED", "authorization_token": TOKEN,
                                "customer": {"given_name": "Planted", "family_name": "Person"}}
                });
                let callback = hpp_core::callback::StatusCallback::parse(body.to_string().as_bytes()).unwrap();
                let _ = router.call(hpp_tracker::callback_request(&uri, &callback)).await;
                let _ = router.call(hpp_tracker::callback_request(&uri, &callback)).await;
            }
            let wrong =
                hpp_core::callback::StatusCallback::parse(format!(r#"{{"event_id":"{EVENT}-3"}}"#).as_bytes()).unwrap();
            let _ = router.call(hpp_tracker::callback_request("/cb?secret=wrong-secret-00000000", &wrong)).await;
            let malformed = axum::body::Body::from(format!(r#"{{"event_id": "{EMAIL}", "session": 5}}"#));
            let _ = router.call(http::Request::post(&uri).body(malformed).unwrap()).await;
            // A poller whose reads fail.
            let failing = |_r: hpp_core::Request| async {
                Err::<hpp_core::Response, _>(hpp_core::TransportError::connect(format!("no route to {SESSION}")))
            };
            let config = Config::new(
                hpp_core::BaseUrl::parse("https://api.example").map(Environment::Custom).unwrap(),
                Credentials::api_key(PASSWORD).unwrap(),
            );
            let client = Client::new(config, failing, hpp_testing::VirtualTimer::new()).into_shared();
            store
                .apply(
                    Input::Track { session_id: "planted-polled-3b", expires_at: None, order_key: None },
                    std::time::SystemTime::now(),
                    &LoggedApp,
                )
                .await
                .unwrap();
            let clock = hpp_testing::VirtualTimer::new();
            let poller = hpp_tracker::Poller::new(store.clone(), client, Arc::new(LoggedApp), clock.clone());
            clock.sleep(Duration::from_secs(3600)).await;
            poller.round().await.unwrap();
        });
    });
    for expected in [
        "hpp callback",
        "applied",
        "duplicate",
        "hand_off_failed",
        "wrong or missing secret",
        "not a status callback",
        "hpp poller: a read failed",
    ] {
        assert!(logs.contains(expected), "logs lack {expected}:\n{logs}");
    }
    for planted in [SECRET, SESSION, EVENT, TOKEN, "Planted", EMAIL, "planted.person", "planted-polled-3b", PASSWORD] {
        assert!(!logs.contains(planted), "{planted} appears in the logs:\n{logs}");
    }
}
