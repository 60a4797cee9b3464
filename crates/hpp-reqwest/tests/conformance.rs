//! The transport contract, checked by the conformance kit, for the default client and for
//! clients users build themselves.

use hpp_reqwest::ReqwestTransport;

#[tokio::test]
async fn the_default_transport_keeps_the_contract() {
    hpp_conformance::check(&ReqwestTransport::new().unwrap()).await.assert_passed();
}

#[tokio::test]
async fn a_plain_user_builder_cannot_make_it_follow_redirects_or_panic() {
    // reqwest's own defaults: follows up to 10 redirects, and (with rustls-no-provider) would
    // panic for want of a crypto provider.
    let transport = ReqwestTransport::from_builder(reqwest::Client::builder()).unwrap();
    hpp_conformance::check(&transport).await.assert_passed();
}

#[tokio::test]
async fn the_documented_builder_keeps_the_contract_after_changes() {
    let builder =
        ReqwestTransport::builder().redirect(reqwest::redirect::Policy::limited(10)).pool_max_idle_per_host(1);
    let transport = ReqwestTransport::from_builder(builder).unwrap().with_body_limit(4096);
    let report =
        hpp_conformance::check_with(&transport, &hpp_conformance::Options::default().with_body_limit(4096)).await;
    report.assert_passed();
}

/// The documented defaults are what `builder()` starts from (reqwest's own have no timeouts and
/// follow redirects), as reqwest's `Debug` of the builder shows them.
#[test]
fn the_builder_starts_from_the_documented_defaults() {
    let shown = format!("{:?}", ReqwestTransport::builder());
    for expected in [
        format!("connect_timeout: {:?}", hpp_reqwest::DEFAULT_CONNECT_TIMEOUT),
        format!("timeout: {:?}", hpp_reqwest::DEFAULT_TIMEOUT),
        "redirect_policy: Policy(None)".to_owned(),
    ] {
        assert!(shown.contains(&expected), "{expected} not in {shown}");
    }
}

/// `client()` is the client the transport sends with, as configured.
#[tokio::test]
async fn client_is_the_configured_client() {
    let server = hpp_conformance::loopback::Loopback::start(vec![
        http::Response::builder().status(204).body(Vec::new()).unwrap(),
    ]);
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-from-the-builder", "yes".parse().unwrap());
    let transport = ReqwestTransport::from_builder(ReqwestTransport::builder().default_headers(defaults)).unwrap();
    let answer = transport.client().get(format!("{}/x", server.base_url)).send().await.unwrap();
    assert_eq!(answer.status(), 204);
    assert_eq!(server.next_request().header("x-from-the-builder"), Some(&b"yes"[..]));
}

#[tokio::test]
async fn https_works_with_the_configured_roots_and_only_with_them() {
    hpp_conformance::check_tls(|root| {
        let roots = hpp_runtime::tls::roots_from_der([root]).expect("the test root parses");
        let tls = hpp_runtime::tls::client_config_with_roots(roots);
        ReqwestTransport::from_builder(ReqwestTransport::builder().tls_backend_preconfigured(tls)).unwrap()
    })
    .await
    .assert_passed();
}

/// Issue 37: a builder's default for a header the SDK sets on every request (a `user_agent`, a
/// default `Accept`) is refused with what to do, not dropped without a word; other default
/// headers are sent.
#[tokio::test]
async fn headers_the_sdk_sets_are_refused_on_the_builder() {
    use hpp_reqwest::BuilderError;
    let refused = ReqwestTransport::from_builder(ReqwestTransport::builder().user_agent("my-shop/1.4")).unwrap_err();
    assert!(matches!(refused, BuilderError::HeaderTheSdkSets { header: "user-agent", .. }), "{refused:?}");
    assert!(refused.to_string().contains("Config::with_user_agent_product"), "{refused}");
    for name in ["accept", "authorization", "content-type", "User-Agent"] {
        let mut defaults = reqwest::header::HeaderMap::new();
        defaults.insert(reqwest::header::HeaderName::try_from(name).unwrap(), "x".parse().unwrap());
        let builder = reqwest::Client::builder().default_headers(defaults);
        let refused = ReqwestTransport::from_builder(builder).unwrap_err();
        let BuilderError::HeaderTheSdkSets { header, .. } = refused else { panic!("{refused:?}") };
        assert_eq!(header, name.to_ascii_lowercase());
    }

    // Any other default header is sent.
    let server = hpp_conformance::loopback::Loopback::start(vec![
        http::Response::builder().status(204).body(Vec::new()).unwrap(),
    ]);
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-tenant", "7".parse().unwrap());
    let transport = ReqwestTransport::from_builder(ReqwestTransport::builder().default_headers(defaults)).unwrap();
    let request = http::Request::get(format!("{}/x", server.base_url)).body(Vec::new()).unwrap();
    hpp_core::Transport::send(&transport, request).await.unwrap();
    assert_eq!(server.next_request().header("x-tenant"), Some(&b"7"[..]));
}
