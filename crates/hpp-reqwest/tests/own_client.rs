//! An app's own `reqwest::Client` beside the SDK (issue 37): this crate turns reqwest's rustls
//! on with no provider of reqwest's, for every reqwest in the build. This file is one test, in a
//! process of its own, so nothing has installed a provider before it.

/// Built before any SDK transport, an app's own client panics for want of a crypto provider;
/// after the documented call it builds, and so does every later one.
#[test]
fn the_documented_call_lets_the_apps_own_client_build() {
    let before = std::panic::catch_unwind(reqwest::Client::new);
    // If this fails, reqwest no longer panics here: the crate docs' warning can go.
    assert!(before.is_err(), "reqwest built a client with no crypto provider installed");

    hpp_reqwest::install_default_provider();
    let yours = std::panic::catch_unwind(reqwest::Client::new);
    assert!(yours.is_ok(), "the app's own client panicked after install_default_provider");
    // Idempotent, and the SDK's transport builds beside it.
    hpp_reqwest::install_default_provider();
    assert!(hpp_reqwest::ReqwestTransport::new().is_ok());
}
