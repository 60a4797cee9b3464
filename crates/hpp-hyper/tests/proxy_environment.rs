//! Rule 7 of the transport contract: proxies named in the environment are never used.

#[tokio::test]
async fn the_default_transport_takes_no_proxy_from_the_environment() {
    hpp_conformance::check_environment(hpp_hyper::HyperTransport::new).await.assert_passed();
}
