//! The transport contract from outside: the conformance kit notices each broken rule; user-built
//! clients cannot follow redirects; wrapped and layered transports keep retries and per-call
//! timeouts; paused Tokio time reaches a watch's deadline; transports chosen at run time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hpp_core::transport::SharedTransport;
use hpp_core::{
    Client, CreateSession, Error, ReadSession, Request, Response, Transport, TransportError, TransportErrorKind,
    WatchOptions, WatchOutcome,
};
use hpp_hyper::{HyperTransport, TokioTimer};
use hpp_reqwest::ReqwestTransport;
use hpp_runtime::tower::{Layer, Service, layered};
use hpp_sandbox::{Fault, Sandbox, SandboxConfig};
use hpp_tests::loopback::Loopback;

/// The names of the checks `transport` fails.
async fn failed_checks(transport: impl Transport) -> Vec<&'static str> {
    let report = hpp_conformance::check(&transport).await;
    report.failures().map(|(name, _)| name).collect()
}

/// `inner` breaking rule 5: a failure before any connection reported as "may have been sent".
fn connect_as_maybe_sent(inner: HyperTransport<hpp_hyper::DefaultConnector>) -> impl Transport {
    move |request: Request| {
        let sending = inner.send(request);
        async move {
            sending
                .await
                .map_err(|e| if e.kind() == TransportErrorKind::Connect { TransportError::other(e) } else { e })
        }
    }
}

#[tokio::test]
async fn the_kit_notices_each_broken_rule() {
    let good = HyperTransport::new();
    assert_eq!(failed_checks(good.clone()).await, [] as [&str; 0]);

    let inner = good.clone();
    let errors_for_non_2xx = move |request: Request| {
        let sending = inner.send(request);
        async move {
            let response = sending.await?;
            if response.status().is_success() {
                Ok(response)
            } else {
                Err(TransportError::other(format!("HTTP {}", response.status())))
            }
        }
    };
    let inner = good.clone();
    let drops_user_agent = move |mut request: Request| {
        request.headers_mut().remove(http::header::USER_AGENT);
        inner.send(request)
    };
    let inner = good.clone();
    let follows_redirects = move |request: Request| {
        let inner = inner.clone();
        async move {
            let (parts, body) = request.into_parts();
            let copy = http::Request::from_parts(parts.clone(), body.clone());
            let response = inner.send(copy).await?;
            let Some(location) = response.headers().get("location").and_then(|l| l.to_str().ok()) else {
                return Ok(response);
            };
            let uri: http::Uri = if location.starts_with('/') {
                format!("http://{}{location}", parts.uri.authority().unwrap()).parse().unwrap()
            } else {
                location.parse().unwrap()
            };
            let mut again = http::Request::from_parts(parts, body);
            *again.uri_mut() = uri;
            inner.send(again).await
        }
    };
    let connect_as_maybe_sent = connect_as_maybe_sent(good.clone());
    let inner = good.clone();
    let everything_not_sent = move |request: Request| {
        let sending = inner.send(request);
        async move {
            sending
                .await
                .map_err(|e| if e.kind() == TransportErrorKind::Other { TransportError::before_sending(e) } else { e })
        }
    };
    let inner = good.clone();
    let ignores_request_timeout = move |mut request: Request| {
        request.extensions_mut().clear();
        inner.send(request)
    };
    let (a, b, c, d, e, f, g) = tokio::join!(
        failed_checks(errors_for_non_2xx),
        failed_checks(drops_user_agent),
        failed_checks(follows_redirects),
        failed_checks(HyperTransport::new().with_body_limit(usize::MAX)),
        failed_checks(connect_as_maybe_sent),
        failed_checks(everything_not_sent),
        failed_checks(ignores_request_timeout),
    );
    assert_eq!(a, ["every status is a response", "redirects are not followed", "bodies are capped"]);
    assert_eq!(b, ["requests arrive as built"]);
    assert_eq!(c, ["redirects are not followed"]);
    assert_eq!(d, ["bodies are capped"]);
    assert_eq!(e, ["a refused connection is not sent"]);
    assert_eq!(f, ["a dropped connection may have been sent"]);
    assert_eq!(g, ["RequestTimeout is honoured"]);
}

/// The kit's failures name the rule and the fix, not only what broke.
#[tokio::test]
async fn a_failure_names_its_rule_and_the_fix() {
    let report = hpp_conformance::check(&connect_as_maybe_sent(HyperTransport::new())).await.to_string();
    assert!(report.contains("FAIL  rule 5: a refused connection is not sent: "), "{report}");
    assert!(
        report.contains("      fix: report a failure before any connection was made as TransportError::connect"),
        "{report}"
    );
    assert!(report.contains("ok    rule 1: requests arrive as built"), "{report}");
}

/// https is checked too: a connector that breaks every https call, and one that accepts any
/// certificate, both passed the plain-http checks.
#[tokio::test]
async fn the_kit_notices_broken_https() {
    let with_root = |root: &[u8]| {
        let tls = hpp_runtime::tls::client_config_with_roots(hpp_runtime::tls::roots_from_der([root]).unwrap());
        HyperTransport::from_client(
            HyperTransport::client_builder().build(HyperTransport::connector(tls, Duration::from_secs(5))),
        )
    };
    let good = hpp_conformance::check_tls(with_root).await;
    assert!(good.passed(), "{good}");

    // Mozilla's roots only: the test server is not trusted, so every https read fails.
    let breaks_https = hpp_conformance::check_tls(|_root| HyperTransport::new()).await;
    assert!(hpp_conformance::check(&HyperTransport::new()).await.passed(), "plain http passes");
    assert_eq!(
        breaks_https.failures().map(|(name, _)| name).collect::<Vec<_>>(),
        ["https reaches a server the configured roots trust"]
    );

    // A TLS failure reported as "may have been sent": the SDK would refuse to retry what never left.
    let maybe_sent = |root: &[u8]| {
        let inner = with_root(root);
        move |request: Request| {
            let sending = inner.send(request);
            async move { sending.await.map_err(TransportError::other) }
        }
    };
    let report = hpp_conformance::check_tls(maybe_sent).await;
    assert_eq!(
        report.failures().map(|(name, _)| name).collect::<Vec<_>>(),
        [
            "an untrusted certificate is refused before sending",
            "a certificate for another host is refused before sending"
        ]
    );

    // The chain checked, the host name not: it sent a request (credentials included) to a server
    // whose certificate names other hosts.
    let chain_only = |root: &[u8]| {
        let mut tls = hpp_runtime::tls::client_config_with_roots(hpp_runtime::tls::roots_from_der([root]).unwrap());
        let roots = Arc::new(hpp_runtime::tls::roots_from_der([root]).unwrap());
        let inner = hpp_runtime::tls::rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots,
            hpp_runtime::tls::provider(),
        )
        .build()
        .unwrap();
        tls.dangerous().set_certificate_verifier(Arc::new(ChainOnly(inner)));
        HyperTransport::from_client(
            HyperTransport::client_builder().build(HyperTransport::connector(tls, Duration::from_secs(5))),
        )
    };
    let report = hpp_conformance::check_tls(chain_only).await;
    assert_eq!(
        report.failures().map(|(name, _)| name).collect::<Vec<_>>(),
        ["a certificate for another host is refused before sending"],
        "{report}"
    );
}

/// A certificate verifier that checks the chain and ignores the host name (a mistake the kit
/// must catch).
#[derive(Debug)]
struct ChainOnly(Arc<hpp_runtime::tls::rustls::client::WebPkiServerVerifier>);

impl hpp_runtime::tls::rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &hpp_runtime::tls::rustls::pki_types::CertificateDer<'_>,
        intermediates: &[hpp_runtime::tls::rustls::pki_types::CertificateDer<'_>],
        server_name: &hpp_runtime::tls::rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: hpp_runtime::tls::rustls::pki_types::UnixTime,
    ) -> Result<hpp_runtime::tls::rustls::client::danger::ServerCertVerified, hpp_runtime::tls::rustls::Error> {
        use hpp_runtime::tls::rustls::{CertificateError, Error};
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(hpp_runtime::tls::rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &hpp_runtime::tls::rustls::pki_types::CertificateDer<'_>,
        dss: &hpp_runtime::tls::rustls::DigitallySignedStruct,
    ) -> Result<hpp_runtime::tls::rustls::client::danger::HandshakeSignatureValid, hpp_runtime::tls::rustls::Error>
    {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &hpp_runtime::tls::rustls::pki_types::CertificateDer<'_>,
        dss: &hpp_runtime::tls::rustls::DigitallySignedStruct,
    ) -> Result<hpp_runtime::tls::rustls::client::danger::HandshakeSignatureValid, hpp_runtime::tls::rustls::Error>
    {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<hpp_runtime::tls::rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn redirect(location: &str) -> Response {
    http::Response::builder().status(302).header("location", location).body(Vec::new()).unwrap()
}

#[tokio::test]
async fn a_user_built_reqwest_client_never_follows_a_redirect() {
    // reqwest's default policy follows up to ten redirects; from_builder turns that off.
    let transport = ReqwestTransport::from_builder(hpp_reqwest::reqwest::Client::builder()).unwrap();
    let elsewhere = Loopback::start(vec![http::Response::new(br#"{"session_id":"B"}"#.to_vec())]);
    let other_origin = format!("{}/hpp/v1/sessions/B", elsewhere.base_url);
    for location in ["/hpp/v1/sessions/B", other_origin.as_str()] {
        let server = Loopback::start(vec![redirect(location), http::Response::new(br#"{"session_id":"B"}"#.to_vec())]);
        let config = hpp_core::Config::new(
            hpp_core::BaseUrl::parse(&server.base_url).map(hpp_core::Environment::Custom).unwrap(),
            hpp_core::Credentials::api_key("kco_test_api_KEY").unwrap(),
        );
        let client = Client::new(config, transport.clone(), TokioTimer::new());
        let error = client.read_session("A").await.unwrap_err();
        let Error::Api(api) = &error else { panic!("{location}: {error:?}") };
        assert!(api.status().is_redirection(), "{location}: {error}");
        assert_eq!(server.next_request().target, "/hpp/v1/sessions/A");
        assert!(server.try_next_request().is_none(), "{location}: followed");
    }
    assert!(elsewhere.try_next_request().is_none(), "followed to another origin");
}

/// A tower layer counting the requests that pass through it.
#[derive(Clone)]
struct Count(Arc<AtomicU32>);

impl<S> Layer<S> for Count {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted(inner, self.0.clone())
    }
}

#[derive(Clone)]
struct Counted<S>(S, Arc<AtomicU32>);

impl<S: Service<Request>> Service<Request> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, request: Request) -> S::Future {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.call(request)
    }
}

#[tokio::test]
async fn layered_and_wrapped_transports_keep_retries_and_per_call_timeouts() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let layered = layered(HyperTransport::new(), Count(seen.clone()));
    let inner = ReqwestTransport::new().unwrap();
    let wrapped_seen = Arc::new(AtomicU32::new(0));
    let counter = wrapped_seen.clone();
    let wrapped = move |request: Request| {
        counter.fetch_add(1, Ordering::SeqCst);
        inner.send(request)
    };
    let policy =
        hpp_core::retry::RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5));
    for (name, transport, count) in
        [("layered", SharedTransport::new(layered), &seen), ("closure", SharedTransport::new(wrapped), &wrapped_seen)]
    {
        let client =
            Client::new(sandbox.client_config(), transport, TokioTimer::new()).with_retry_policy(policy.clone());
        let created = client.create_session(&CreateSession::new("https://x.example/orders/1")).await.unwrap();
        let before = count.load(Ordering::SeqCst);
        sandbox.inject_faults([Fault::Status { status: 503, retry_after: Some(0), error_code: None }]);
        let session = client.read_session(created.session_url.as_deref().unwrap()).await;
        assert!(session.is_ok(), "{name}: {session:?}");
        assert_eq!(count.load(Ordering::SeqCst) - before, 2, "{name}: the 503 was retried");

        sandbox.inject_faults([Fault::Delay { ms: 5_000 }]);
        let options = hpp_core::retry::RetryPolicy::none().with_attempt_timeout(Duration::from_millis(200));
        let read = ReadSession::new(created.session_url.as_deref().unwrap());
        let error = client.send_with(&read, &options).await.unwrap_err();
        let Error::Transport(transport_error) = &error else { panic!("{name}: {error:?}") };
        assert_eq!(transport_error.kind(), TransportErrorKind::Timeout, "{name}: {error}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_watch_under_paused_time_reaches_its_deadline() {
    let waiting = |_request: Request| async {
        Ok::<Response, TransportError>(http::Response::new(br#"{"session_id":"s1","status":"WAITING"}"#.to_vec()))
    };
    let config = hpp_core::Config::new(
        hpp_core::Environment::Kustom(hpp_core::Mode::Playground),
        hpp_core::Credentials::api_key("k").unwrap(),
    );
    let client = Client::new(config, waiting, TokioTimer::new());
    let started = tokio::time::Instant::now();
    let options = WatchOptions::default().with_deadline(Duration::from_secs(3600));
    let outcome = client.wait_for_final_status("s1", &options, |_| {}).await.unwrap();
    assert!(matches!(outcome, WatchOutcome::DeadlinePassed(Some(_))), "{outcome:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3600), "an hour of Tokio time, exactly the deadline");
}

/// The transport a deployment names in its configuration.
fn transport_named(name: &str) -> SharedTransport {
    match name {
        "hyper" => SharedTransport::new(HyperTransport::new()),
        _ => SharedTransport::new(ReqwestTransport::new().unwrap()),
    }
}

#[tokio::test]
async fn transports_chosen_at_run_time_behind_one_type() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let clients: Vec<Client> = ["hyper", "reqwest"]
        .into_iter()
        .map(|name| Client::new(sandbox.client_config(), transport_named(name), TokioTimer::new()))
        .collect();
    let created = clients[0].create_session(&CreateSession::new("https://x.example/orders/1")).await.unwrap();
    for client in &clients {
        let session = client.read_session(created.session_url.as_deref().unwrap()).await.unwrap();
        assert_eq!(session.session_id, created.session_id);
    }
}
