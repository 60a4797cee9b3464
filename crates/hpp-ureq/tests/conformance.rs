//! The transport contract, checked by the conformance kit, for the default agent and for agents
//! users build themselves.

use hpp_ureq::{UreqTransport, block_on};

#[test]
fn the_default_transport_keeps_the_contract() {
    block_on(hpp_conformance::check(&UreqTransport::new())).assert_passed();
}

#[test]
fn the_default_transport_takes_no_proxy_from_the_environment() {
    block_on(hpp_conformance::check_environment(UreqTransport::new)).assert_passed();
}

/// An agent with ureq's own defaults reads `HTTP_PROXY` and friends: the transport neutralises
/// that proxy (it sent the credentials through it, in a CONNECT tunnel or in clear).
#[test]
fn an_agent_with_ureqs_defaults_takes_no_proxy_from_the_environment() {
    block_on(hpp_conformance::check_environment(|| UreqTransport::from_agent(ureq::Agent::new_with_defaults())))
        .assert_passed();
}

#[test]
fn a_users_agent_cannot_make_it_follow_redirects_or_fail_on_a_status() {
    // ureq's own defaults follow up to 10 redirects and turn 4xx and 5xx into errors.
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    block_on(hpp_conformance::check(&UreqTransport::from_agent(agent))).assert_passed();
}

#[test]
fn https_works_with_the_configured_roots_and_only_with_them() {
    use std::sync::Arc;
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    block_on(hpp_conformance::check_tls(|root| {
        let roots = RootCerts::Specific(Arc::new(vec![Certificate::from_der(root).to_owned()]));
        let tls = TlsConfig::builder().root_certs(roots).build();
        UreqTransport::from_agent(ureq::Agent::config_builder().proxy(None).tls_config(tls).build().into())
    }))
    .assert_passed();
}
