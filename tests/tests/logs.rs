//! The logs of a full run, captured at TRACE with planted secrets, contain none of them, but do
//! contain what an operator needs (operation, URL template, status, attempt, correlation id).

use std::io::Write;
use std::sync::{Arc, Mutex};

use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, Transport};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig, SandboxMode};

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

const EMAIL: &str = "planted.person@secret-domain.example";
const BLOCKED: &str = "blocked.person@secret-domain.example";
const PHONE: &str = "0701234567";
const ACCESS_ID: &str = "planted-access-id-7f3a9c";
const PASSWORD: &str = "planted-password-Zq8w";

async fn full_run<T: Transport + Clone>(transport: T) {
    let mut config = SandboxConfig::default();
    config.mode = SandboxMode::Production;
    config.credentials = Some(("planted-user".into(), PASSWORD.into()));
    config.blocked = vec![BLOCKED.into()];
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = Client::new(sandbox.client_config(), transport.clone(), hpp_tokio::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/orders/1")).await.unwrap();
    let url = created.distribution_url.clone().unwrap();
    client.distribute(&url, Distribution::email(EMAIL).unwrap()).await.unwrap();
    client.distribute(&url, Distribution::token(ACCESS_ID).unwrap()).await.unwrap();
    client.distribute(&url, Distribution::sms(PHONE, "SE").unwrap()).await.unwrap();
    assert!(client.distribute(&url, Distribution::email(BLOCKED).unwrap()).await.is_err());
    client.read_session(created.session_url.as_ref().unwrap()).await.unwrap();
    client.disable_session(created.session_id.as_ref().unwrap()).await.unwrap();
    let key = Config::new(Environment::custom(sandbox.base_url()).unwrap(), Credentials::api_key(PASSWORD).unwrap());
    Client::new(key, transport, hpp_tokio::TokioTimer::new()).read_session(created.session_id.unwrap()).await.unwrap();
    sandbox.stop().await;
}

#[test]
fn logs_carry_no_secrets_or_contact_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(full_run(ReqwestTransport::new().unwrap()));
        runtime.block_on(full_run(HyperTransport::new()));
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "distribute_session",
        "/hpp/v1/sessions/{session_id}/distribution",
        "attempt",
        "BLACKLIST_REFUSED",
        "correlation_id",
    ] {
        assert!(logs.contains(expected), "logs lack {expected}:\n{logs}");
    }
    let basic = Credentials::basic("planted-user", PASSWORD).unwrap().authorization();
    let basic = basic.to_str().unwrap().trim_start_matches("Basic ").to_owned();
    for secret in [EMAIL, BLOCKED, "planted.person", PHONE, ACCESS_ID, PASSWORD, &basic] {
        assert!(!logs.contains(secret), "{secret} appears in the logs:\n{logs}");
    }
}
