//! Rule 7 of the transport contract: proxies named in the environment are never used.

use hpp_reqwest::ReqwestTransport;

#[tokio::test]
async fn the_default_transport_takes_no_proxy_from_the_environment() {
    hpp_conformance::check_environment(|| ReqwestTransport::new().unwrap()).await.assert_passed();
}

#[tokio::test]
async fn a_transport_from_the_documented_builder_takes_no_proxy_from_the_environment() {
    let build = || ReqwestTransport::from_builder(ReqwestTransport::builder().pool_max_idle_per_host(1)).unwrap();
    hpp_conformance::check_environment(build).await.assert_passed();
}
