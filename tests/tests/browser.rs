//! The sandbox's payment page in a real headless browser: Chromium from Debian's packages, driven
//! over WebDriver by chromedriver (`.ci/run` installs both when missing). A person's click on Pay
//! completes the session, sends the merchant back, and the page then shows COMPLETED.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hpp_core::{Client, CreateSession, MerchantUrls, SessionStatus};
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// chromedriver on a free port, ready once it says so on stdout.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut lines = BufReader::new(child.stdout.take()?).lines();
        // Readiness: chromedriver announces it; no sleeping.
        while let Some(Ok(line)) = lines.next() {
            if line.contains("started successfully") {
                std::thread::spawn(move || lines.for_each(drop)); // keep draining its output
                return Some(Self { child, url: format!("http://127.0.0.1:{port}") });
            }
        }
        None
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of `#status` on the page the browser shows, or `None` while the page is being
/// replaced (the element not found yet, or gone stale under our feet).
async fn status_text(http: &hpp_reqwest::reqwest::Client, browser: &str) -> Option<String> {
    let find = json!({ "using": "css selector", "value": "#status" });
    let request = http.post(format!("{browser}/element")).header("content-type", "application/json");
    let found = request.body(find.to_string()).send().await.ok()?;
    let found: Value = serde_json::from_slice(&found.bytes().await.ok()?).ok()?;
    let id = found["value"].as_object()?.values().next()?.as_str()?.to_owned();
    let text = http.get(format!("{browser}/element/{id}/text")).send().await.ok()?;
    let text: Value = serde_json::from_slice(&text.bytes().await.ok()?).ok()?;
    text["value"].as_str().map(str::to_owned)
}

async fn webdriver(http: &hpp_reqwest::reqwest::Client, method: &str, url: String, body: Value) -> Value {
    let request = match method {
        "POST" => http.post(&url).header("content-type", "application/json").body(body.to_string()),
        "DELETE" => http.delete(&url),
        _ => http.get(&url),
    };
    let answer = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = answer.status();
    let value: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {value}");
    value["value"].clone()
}

#[tokio::test]
async fn a_person_pays_on_the_sandbox_page_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing; .ci/run installs chromium and chromium-driver"
        );
        eprintln!("skipped: chromedriver is not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_tokio::TokioTimer::new());
    // The merchant's "thank you" page: the sandbox's own page, so the browser stays on loopback.
    let success = format!("{}/_sandbox/pay/{{{{session_id}}}}", sandbox.base_url());
    let urls = MerchantUrls::default().with_success(success);
    let created =
        client.create_session(&CreateSession::new("https://x.example/o/1").with_merchant_urls(urls)).await.unwrap();

    let http = ReqwestTransport::new().unwrap().client().clone();
    let profile = std::env::temp_dir().join(format!("hpp-browser-{}", std::process::id()));
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
    }}});
    let session = webdriver(&http, "POST", format!("{}/session", driver.url), capabilities).await;
    let browser = format!("{}/session/{}", driver.url, session["sessionId"].as_str().unwrap());

    webdriver(&http, "POST", format!("{browser}/url"), json!({ "url": created.redirect_url.clone().unwrap() })).await;
    let find = |selector: &str| json!({ "using": "css selector", "value": selector });
    let status = webdriver(&http, "POST", format!("{browser}/element"), find("#status")).await;
    let status_id = status.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_owned();
    let shown = webdriver(&http, "GET", format!("{browser}/element/{status_id}/text"), Value::Null).await;
    assert_eq!(shown, "WAITING");

    let pay = webdriver(&http, "POST", format!("{browser}/element"), find("#pay")).await;
    let pay_id = pay.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_owned();
    webdriver(&http, "POST", format!("{browser}/element/{pay_id}/click"), json!({})).await;

    // The click posted the form; the browser follows the 303 to the merchant's page. The click
    // may return before that page is in place (a loaded machine): read until the new page shows,
    // each read a round trip to the browser, no sleeping, bounded.
    let mut shown = None;
    for _ in 0..500 {
        shown = status_text(&http, &browser).await;
        if shown.as_deref() == Some("COMPLETED") {
            break;
        }
    }
    assert_eq!(shown.as_deref(), Some("COMPLETED"));
    let session = client.read_session(created.session_url.as_deref().unwrap()).await.unwrap();
    assert_eq!(session.status, Some(SessionStatus::Completed));
    assert!(session.authorization_token.is_some(), "a completed payment has an authorization token");

    webdriver(&http, "DELETE", browser, Value::Null).await;
    let _ = std::fs::remove_dir_all(profile);
}
