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
    let builder = ReqwestTransport::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .pool_max_idle_per_host(1)
        .user_agent("ignored-because-the-core-sets-its-own");
    let transport = ReqwestTransport::from_builder(builder).unwrap().with_body_limit(4096);
    let report =
        hpp_conformance::check_with(&transport, &hpp_conformance::Options::default().with_body_limit(4096)).await;
    report.assert_passed();
}
