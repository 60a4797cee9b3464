//! `kustom-hpp demo`: the SDK's whole job against an in-process sandbox, step by step.

use std::process::ExitCode;
use std::time::Duration;

use hpp_core::{CreateSession, Distribution, Error, MerchantUrls, SessionStatus, WatchOptions, WatchOutcome};
use hpp_sandbox::{Sandbox, SandboxConfig};

use crate::output::{Failure, Output, say};

/// The demo's sandbox allows this many e-mails, so that its quota error shows quickly.
const DEMO_EMAIL_LIMIT: u32 = 2;

pub(crate) async fn run(output: &Output, timeout: Duration) -> ExitCode {
    let mut config = SandboxConfig::default();
    config.email_limit = DEMO_EMAIL_LIMIT;
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot start the sandbox: {e}"))),
    };
    let result = story(&sandbox, output, timeout).await;
    sandbox.stop().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output.failure(&Failure::from(&error)),
    }
}

fn step(output: &Output, number: u32, text: &str) {
    say!();
    output.heading(&format!("{number}. {text}"));
}

async fn story(sandbox: &Sandbox, output: &Output, timeout: Duration) -> Result<(), Error> {
    output.heading("kustom-hpp demo: the Hosted Payment Page flow against a local sandbox");
    output.fields(&[
        ("sandbox", Some(sandbox.base_url().to_owned())),
        ("username", Some(sandbox.username().to_owned())),
        ("password", Some(hpp_core::__private::redact::REDACTED.to_owned())),
        ("e-mail quota", Some(format!("{DEMO_EMAIL_LIMIT} per day (the playground allows 100)"))),
    ]);
    let client = crate::api::client(sandbox.client_config(), timeout);

    // A listener for status callbacks, guarded by a secret embedded in the callback URL.
    let secret =
        hpp_runtime::random_callback_secret().map_err(|e| Error::Transport(hpp_core::TransportError::connect(e)))?;
    let mut listener = crate::listen::start(0, Some(secret.clone()), Duration::from_secs(10), None, None)
        .await
        .map_err(|e| Error::Transport(hpp_core::TransportError::connect(e)))?;
    output.fields(&[("callbacks to", Some(listener.url.clone()))]);

    step(output, 1, "Create a session for a checkout order, with a status callback URL");
    let mut urls = MerchantUrls::default();
    urls.status_update = Some(secret.append_to(&format!("{}?sid={{{{session_id}}}}", listener.url)));
    urls.success = Some("https://shop.example/thanks?sid={{session_id}}&order={{order_id}}".into());
    urls.cancel = Some("https://shop.example/cart".into());
    let mut order = CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/5f0d1c2e-demo");
    order.merchant_urls = Some(urls);
    let created = client.create_session(&order).await?;
    output.created(&created);

    step(output, 2, "Distribute it by e-mail (following the returned distribution_url)");
    let email = Distribution::email("jane.doe@example.com")?;
    client.distribute_session(&created, email.clone()).await?;
    output.distributed(&email);

    step(output, 3, "Distribute it by token (the access id from a QR code on the consumer's device)");
    let token = Distribution::token("5a5e8e70-1a96-4651-b3b6-b774012a5bbb")?;
    client.distribute_session(&created, token.clone()).await?;
    output.distributed(&token);
    // The other way round, in a shop: the merchant shows the session's QR code (qr_code_url
    // serves it as an image) and the consumer scans it with a phone.
    if let Some(link) = &created.redirect_url {
        output.qr(link);
    }

    step(output, 4, "Read its status");
    output.session(&client.read_session(&created).await?);

    step(output, 5, "A malformed address is refused locally; nothing is sent");
    match Distribution::email("jane.doe@example") {
        Err(e) => output.expected_failure(&e.into()),
        Ok(_) => unreachable!("the address has no top-level domain"),
    }

    step(output, 6, "The server's daily e-mail quota: one more e-mail goes out, the next is refused");
    client.distribute_session(&created, Distribution::email("john.doe@example.com")?).await?;
    say!("  sent e-mail {DEMO_EMAIL_LIMIT} of {DEMO_EMAIL_LIMIT}");
    match client.distribute_session(&created, Distribution::email("jim.doe@example.com")?).await {
        Err(e @ Error::Api(_)) => output.expected_failure(&e),
        Err(other) => return Err(other),
        Ok(()) => unreachable!("the sandbox's quota is {DEMO_EMAIL_LIMIT}"),
    }

    step(output, 7, "Watch the session while the consumer pays (played by the sandbox)");
    let session_id = created.session_id.clone().unwrap_or_default();
    let (seen, mut consumer_sees) = tokio::sync::mpsc::unbounded_channel();
    let options = WatchOptions::default()
        .with_interval(Duration::from_millis(50), Duration::from_millis(200))
        .with_deadline(Duration::from_secs(30));
    let watch = client.wait_for_final_status(&created, &options, |session| {
        output.status_change(session);
        let _ = seen.send(session.status.clone());
    });
    // The consumer acts on what the watch has seen, so the story is the same on every run.
    let consumer = async {
        while let Some(status) = consumer_sees.recv().await {
            let next = match status {
                Some(SessionStatus::Waiting) => SessionStatus::InProgress,
                Some(SessionStatus::InProgress) => SessionStatus::Completed,
                _ => break,
            };
            sandbox.set_status(&session_id, next);
        }
    };
    let (outcome, ()) = tokio::join!(watch, consumer);
    match outcome? {
        WatchOutcome::Final(session) => output.watch_ended(Some(&session), "final", 0),
        other => say!("  the watch ended early: {other:?}"),
    }

    step(output, 8, "The status callbacks that reached our listener (secret checked, duplicates dropped)");
    loop {
        match tokio::time::timeout(Duration::from_secs(10), listener.received.recv()).await {
            Ok(Some(crate::listen::Received::Event(event, _, handed_on))) => {
                let printed = output.callback(&event);
                let _ = handed_on.send(printed.is_ok());
                if let Err(e) = printed {
                    crate::output::write_failed(&e);
                }
                if event.session.status == Some(SessionStatus::Completed) {
                    break;
                }
            }
            Ok(Some(crate::listen::Received::Rejected(why))) => output.callback_rejected(why),
            // The demo's listener has no store.
            Ok(Some(crate::listen::Received::StoreFailed(_))) => {}
            Ok(None) | Err(_) => {
                say!("  no COMPLETED callback arrived within 10 s");
                break;
            }
        }
    }

    step(output, 9, "Disable another session, so its link stops working");
    let other = client
        .create_session(&CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/7a1b-demo"))
        .await?;
    client.disable_session(&other).await?;
    output.session(&client.read_session(&other).await?);

    step(output, 10, "What the sandbox sent");
    for message in sandbox.outbox() {
        let recipient = match message.method.as_str() {
            "email" => hpp_core::__private::redact::mask_email(&message.recipient),
            _ => hpp_core::__private::redact::mask_all(&message.recipient),
        };
        say!("  #{} {:<6} {recipient}", message.sequence, message.method);
    }
    say!();
    output.heading("Done.");
    Ok(())
}
