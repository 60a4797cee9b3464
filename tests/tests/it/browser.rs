//! The sandbox's payment page in a real headless browser: Chromium from Debian's packages, driven
//! over WebDriver by chromedriver (`.ci/run` installs both when missing). A person's click on Pay
//! completes the session, sends the merchant back, and the page then shows COMPLETED.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hpp_core::{Client, CreateSession, SessionStatus};
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

/// chromedriver, or `None` (said on stderr) where it is not installed; under CI its absence fails.
fn driver() -> Option<Driver> {
    let driver = Driver::start();
    if driver.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing; .ci/run installs chromium and chromium-driver"
        );
        eprintln!("skipped: chromedriver is not installed (apt-get install chromium chromium-driver)");
    }
    driver
}

/// A headless Chromium session: its WebDriver URL, and its profile directory (to remove).
async fn open_browser(
    http: &hpp_reqwest::reqwest::Client,
    driver: &Driver,
    name: &str,
) -> (String, std::path::PathBuf) {
    let profile = std::env::temp_dir().join(format!("hpp-browser-{}-{name}", std::process::id()));
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
    }}});
    let session = webdriver(http, "POST", format!("{}/session", driver.url), capabilities).await;
    (format!("{}/session/{}", driver.url, session["sessionId"].as_str().unwrap()), profile)
}

#[tokio::test]
async fn a_person_pays_on_the_sandbox_page_in_a_real_browser() {
    let Some(driver) = driver() else { return };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    // The merchant's "thank you" page: the sandbox's own page, so the browser stays on loopback.
    let success = format!("{}/_sandbox/pay/{{{{session_id}}}}", sandbox.base_url());
    let urls = crate::merchant_urls(&[("success", &success)]);
    let created = client.create_session(&crate::create("https://x.example/o/1", urls)).await.unwrap();

    let http = ReqwestTransport::new().unwrap().client().clone();
    let (browser, profile) = open_browser(&http, &driver, "pays").await;
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
    let outcome = element(&http, &browser, "#outcome").await;
    let said = webdriver(&http, "GET", format!("{browser}/element/{outcome}/text"), Value::Null).await;
    assert!(said.as_str().unwrap().starts_with("Paid."), "{said}");
    screenshot(&http, &browser, "paid").await;
    let session = client.read_session(created.session_url.as_deref().unwrap()).await.unwrap();
    assert_eq!(session.status, Some(SessionStatus::Completed));
    assert!(session.authorization_token.is_some(), "a completed payment has an authorization token");

    webdriver(&http, "DELETE", browser, Value::Null).await;
    let _ = std::fs::remove_dir_all(profile);
}

/// The id WebDriver gives the element `selector` finds.
async fn element(http: &hpp_reqwest::reqwest::Client, browser: &str, selector: &str) -> String {
    let find = json!({ "using": "css selector", "value": selector });
    let found = webdriver(http, "POST", format!("{browser}/element"), find).await;
    found.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_owned()
}

/// Runs `script` in the page; its value.
async fn script(http: &hpp_reqwest::reqwest::Client, browser: &str, script: &str) -> Value {
    webdriver(http, "POST", format!("{browser}/execute/sync"), json!({ "script": script, "args": [] })).await
}

/// A screenshot of the viewport as PNG bytes, also kept as a test artifact
/// (`target/tmp/pay-page/<name>.png`).
async fn screenshot(http: &hpp_reqwest::reqwest::Client, browser: &str, name: &str) -> Vec<u8> {
    use base64::Engine;
    let shot = webdriver(http, "GET", format!("{browser}/screenshot"), Value::Null).await;
    let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pay-page");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    png
}

/// The pay page at a phone's size and at a desktop's, screenshots kept: on the phone every
/// button is reachable without scrolling and nothing is wider than the screen; on the desktop
/// the QR code beside the page is shown, and the browser's rendering of it scans to the page.
#[tokio::test]
async fn the_pay_page_fits_a_phone_and_shows_a_scannable_code_on_a_desktop() {
    let Some(driver) = driver() else { return };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
    let pay_url = created.redirect_url.clone().unwrap();
    let http = ReqwestTransport::new().unwrap().client().clone();
    let (browser, profile) = open_browser(&http, &driver, "sizes").await;

    for (name, width, height) in [("phone", 390, 844), ("desktop", 1280, 800)] {
        webdriver(&http, "POST", format!("{browser}/window/rect"), json!({ "width": width, "height": height })).await;
        webdriver(&http, "POST", format!("{browser}/url"), json!({ "url": pay_url })).await;
        let viewport = script(
            &http,
            &browser,
            "return [window.innerWidth, window.innerHeight, document.documentElement.scrollWidth];",
        )
        .await;
        let (inner_width, inner_height, scroll_width) =
            (viewport[0].as_f64().unwrap(), viewport[1].as_f64().unwrap(), viewport[2].as_f64().unwrap());
        assert!(
            scroll_width <= inner_width,
            "{name}: the page is wider ({scroll_width}) than the screen ({inner_width})"
        );
        for button in ["#pay", "#cancel", "#fail"] {
            let id = element(&http, &browser, button).await;
            let rect = webdriver(&http, "GET", format!("{browser}/element/{id}/rect"), Value::Null).await;
            let bottom = rect["y"].as_f64().unwrap() + rect["height"].as_f64().unwrap();
            assert!(bottom <= inner_height, "{name}: {button} ends at {bottom}, below the {inner_height} px screen");
            assert!(rect["height"].as_f64().unwrap() >= 44.0, "{name}: {button} is too small to tap: {rect}");
        }
        let qr = element(&http, &browser, "#qr").await;
        let shown = webdriver(&http, "GET", format!("{browser}/element/{qr}/displayed"), Value::Null).await;
        let shot = screenshot(&http, &browser, name).await;
        if name == "phone" {
            assert_eq!(shown, false, "the phone already shows the page the code leads to");
        } else {
            assert_eq!(shown, true);
            // The image loaded (an <img> of qr_code_url), and what a camera reads from it.
            let loaded = script(
                &http,
                &browser,
                "const i = document.getElementById('qr'); return i.complete && i.naturalWidth > 0;",
            )
            .await;
            assert_eq!(loaded, true, "the QR image did not load");
            assert_eq!(crate::qr_codes_in_png(&shot).1, std::slice::from_ref(&pay_url));
        }
    }
    webdriver(&http, "DELETE", browser, Value::Null).await;
    let _ = std::fs::remove_dir_all(profile);
}
