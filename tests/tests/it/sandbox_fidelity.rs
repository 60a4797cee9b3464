//! The sandbox answers like the API: routes by whole path segment with 405 and `Allow`, create
//! requests checked as strictly as the spec, and every response field the service returns in a
//! state reachable by a documented input (through both transports).

use hpp_core::model::{PlaceOrderMode, SessionOptions};
use hpp_core::{Client, SessionStatus, Transport};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig};

/// Status, `Allow` header and `error_code` of a raw request with the sandbox's credentials.
async fn raw(sandbox: &Sandbox, method: &str, path: &str, body: &str) -> (u16, Option<String>, serde_json::Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", sandbox.base_url()))
        .header("authorization", format!("Basic {}", sandbox.password()))
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap();
    let response = HyperTransport::new().send(request).await.unwrap();
    let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    let json = serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    (response.status().as_u16(), allow, json)
}

#[tokio::test]
async fn routes_match_whole_segments_and_405_says_what_is_allowed() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let create = r#"{"payment_session_url":"https://x.example/orders/1"}"#;
    let (status, _, created) = raw(&sandbox, "POST", "/hpp/v1/sessions", create).await;
    assert_eq!(status, 201);
    let id = created["session_id"].as_str().unwrap().to_owned();
    let distribution = r#"{"contact_information":{"access_id":"a"},"method":"token"}"#;

    let near_misses = [
        ("POST", "/hpp/v1/sessionsX".to_owned(), create),
        ("GET", format!("/hpp/v1/sessionsX/{id}"), ""),
        ("POST", format!("/hpp/v1/sessions.json/{id}/distribution"), distribution),
        ("GET", format!("/hpp/v1/sessions/{id}/"), ""),
        ("GET", "/hpp/v1/sessions/".to_owned(), ""),
        ("POST", "/hpp/v1/sessions//distribution".to_owned(), distribution),
        ("POST", format!("/hpp/v1/sessions/{id}/distribution/x"), distribution),
        ("GET", format!("/hpp/v2/sessions/{id}"), ""),
        ("GET", format!("/HPP/v1/sessions/{id}"), ""),
    ];
    for (method, path, body) in &near_misses {
        let (status, _, error) = raw(&sandbox, method, path, body).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(error["error_code"], "NOT_FOUND", "{method} {path}");
    }
    assert!(sandbox.outbox().is_empty(), "no near miss distributed anything");

    let wrong_methods = [
        ("GET", "/hpp/v1/sessions".to_owned(), "POST"),
        ("PUT", format!("/hpp/v1/sessions/{id}"), "GET, DELETE"),
        ("POST", format!("/hpp/v1/sessions/{id}"), "GET, DELETE"),
        ("GET", format!("/hpp/v1/sessions/{id}/distribution"), "POST"),
        ("DELETE", format!("/hpp/v1/sessions/{id}/distribution"), "POST"),
    ];
    for (method, path, allowed) in &wrong_methods {
        let (status, allow, _) = raw(&sandbox, method, path, "").await;
        assert_eq!((status, allow.as_deref()), (405, Some(*allowed)), "{method} {path}");
    }
}

#[tokio::test]
async fn create_requests_are_checked_as_strictly_as_the_spec() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let refused = [
        (r#"{}"#, "payment_session_url: must not be blank"),
        (r#"{"payment_session_url":"not a url"}"#, "payment_session_url: must be an absolute http(s) URL"),
        (r#"{"payment_session_url":"ftp://x.example/o"}"#, "payment_session_url"),
        (r#"{"payment_session_url":"https://x.example/o","merchant_urls":{"success":"/ok"}}"#, "merchant_urls.success"),
        (r#"{"payment_session_url":"https://x.example/o","options":{"logo_url":"logo.png"}}"#, "options.logo_url"),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"background_images":[{"url":"https://x.example/i.png","width":0}]}}"#,
            "options.background_images[0].width",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"place_order_mode":"bogus"}}"#,
            "options.place_order_mode: \"bogus\" is not one of PLACE_ORDER, CAPTURE_ORDER, NONE",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"payment_method_categories":["PAY_LATER","CASH"]}}"#,
            "options.payment_method_categories[1]",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"payment_method_category":"X"}}"#,
            "options.payment_method_category",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"purchase_type":"STEAL"}}"#,
            "options.purchase_type",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"show_subtotal_detail":"SHOW"}}"#,
            "options.show_subtotal_detail",
        ),
        (
            r#"{"payment_session_url":"https://x.example/o","options":{"background_images":"x"}}"#,
            "not a valid session creation request",
        ),
    ];
    for (body, message) in refused {
        let (status, _, error) = raw(&sandbox, "POST", "/hpp/v1/sessions", body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error_code"], "CONSTRAINT_VIOLATION", "{body}");
        let said = error["error_messages"][0].as_str().unwrap();
        assert!(said.contains(message), "{body}: {said}");
    }
    // As the guides send them: lower-case option values, placeholders in merchant URLs, nulls.
    let accepted = r#"{"payment_session_url":"https://x.example/o",
        "merchant_urls":{"success":"https://shop.example/ok?sid={{session_id}}&t={{authorization_token}}","back":null},
        "options":{"payment_method_categories":["pay_later"],"purchase_type":"buy","place_order_mode":"place_order"}}"#;
    let (status, _, created) = raw(&sandbox, "POST", "/hpp/v1/sessions", accepted).await;
    assert_eq!(status, 201, "{created}");
    // The lower-case place_order_mode was understood: completing places an order.
    let completed = sandbox.set_status(created["session_id"].as_str().unwrap(), SessionStatus::Completed).unwrap();
    assert!(completed.order_id.is_some() && completed.authorization_token.is_none(), "{completed:?}");
}

/// Every response shape, each reached by a documented input, read through `transport`.
async fn shapes<T: Transport>(transport: T) -> Vec<String> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), transport, hpp_runtime::TokioTimer::new());
    let order = |mode: Option<PlaceOrderMode>| {
        let mut options = SessionOptions::default();
        options.place_order_mode = mode;
        let mut create = crate::create(
            "https://x.example/orders/1",
            crate::merchant_urls(&[("success", "https://shop.example/ok")]),
        );
        create.options = Some(options);
        create
    };
    let mut shapes = Vec::new();
    let created = client.create_session(&order(None)).await.unwrap();
    let module = created.distribution_module.as_ref().expect("a created session has a distribution module");
    assert!(module.token.is_some() && module.standalone_url.is_some() && module.generation_url.is_some());
    assert!(created.manual_identification_check_url.as_deref().is_some_and(|u| u.ends_with("/manual-id-check")));
    shapes.push(format!("created: {}", keys(&created)));

    let id = created.session_id.clone().unwrap();
    shapes.push(format!("waiting: {}", keys(&client.read_session(&created).await.unwrap())));
    sandbox.set_status(&id, SessionStatus::ManualIdCheck).unwrap();
    let checking = client.read_session(&created).await.unwrap();
    let check = checking.manual_identification.as_ref().expect("an identification check");
    assert!(check.challenge.is_some() && check.customer.is_some() && check.customer_obfuscated.is_some());
    assert!(check.expires_at.is_some());
    shapes.push(format!("manual id check: {}", keys(&checking)));
    sandbox.set_status(&id, SessionStatus::Completed).unwrap();
    let paid = client.read_session(&created).await.unwrap();
    assert!(paid.authorization_token.is_some() && paid.customer.is_some(), "{paid:?}");
    assert!(paid.manual_identification.is_none(), "the check is over");
    shapes.push(format!("completed, NONE: {}", keys(&paid)));

    for mode in [PlaceOrderMode::PlaceOrder, PlaceOrderMode::CaptureOrder] {
        let created = client.create_session(&order(Some(mode.clone()))).await.unwrap();
        sandbox.set_status(created.session_id.as_deref().unwrap(), SessionStatus::Completed).unwrap();
        let placed = client.read_session(&created).await.unwrap();
        assert!(placed.order_id.is_some() && placed.klarna_reference.is_some(), "{placed:?}");
        shapes.push(format!("completed, {mode}: {}", keys(&placed)));
    }
    sandbox.stop().await;
    shapes
}

/// The JSON keys a value serializes with, sorted.
fn keys(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_value(value).unwrap();
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn every_response_shape_is_reachable_through_both_transports() {
    let hyper = shapes(HyperTransport::new()).await;
    let reqwest = shapes(ReqwestTransport::new().unwrap()).await;
    assert_eq!(hyper, reqwest);
    insta::assert_snapshot!(hyper.join("\n"));
}

#[tokio::test]
async fn a_refused_purchase_goes_to_the_failure_url_and_may_be_tried_again() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());
    let urls = crate::merchant_urls(&[
        ("failure", "https://shop.example/refused?sid={{session_id}}"),
        ("success", "https://shop.example/ok"),
    ]);
    let created = client.create_session(&crate::create("https://x.example/o/1", urls)).await.unwrap();
    let id = created.session_id.clone().unwrap();
    // The page's buttons are open, like the page: no credentials.
    let page = |path: String, method: http::Method| {
        http::Request::builder().method(method).uri(format!("{}{path}", sandbox.base_url())).body(Vec::new()).unwrap()
    };
    let refused =
        HyperTransport::new().send(page(format!("/_sandbox/pay/{id}/fail"), http::Method::POST)).await.unwrap();
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.headers()["location"], format!("https://shop.example/refused?sid={id}").as_str());
    assert_eq!(client.read_session(&created).await.unwrap().status, Some(SessionStatus::Failed));
    let shown = HyperTransport::new().send(page(format!("/_sandbox/pay/{id}"), http::Method::GET)).await.unwrap();
    let html = String::from_utf8(shown.into_body()).unwrap();
    assert!(html.contains(r#"id="pay""#), "FAILED is not final: the consumer may pay after all:\n{html}");
    let paid =
        HyperTransport::new().send(page(format!("/_sandbox/pay/{id}/complete"), http::Method::POST)).await.unwrap();
    assert_eq!(paid.headers()["location"], "https://shop.example/ok");
    assert_eq!(client.read_session(&created).await.unwrap().status, Some(SessionStatus::Completed));
}
