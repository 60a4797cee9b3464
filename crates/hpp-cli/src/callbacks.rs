//! `callbacks listen`: the receiver (`listen.rs`) started with the command's options, and each
//! event printed.

use std::process::ExitCode;
use std::time::Duration;

use hpp_core::callback::CallbackSecret;

use crate::cli::*;
use crate::output::{Failure, Output, say};
use crate::signals::StopSignals;
use crate::{listen, output};

/// The PostgreSQL schema of `callbacks listen --store`'s tables.
const LISTENER_SCHEMA: &str = "kustom_hpp_listener";

pub(crate) async fn listen_for_callbacks(
    port: u16,
    secret: Option<String>,
    read_timeout: Duration,
    forward_to: Option<http::Uri>,
    store: Option<String>,
    output: &Output,
) -> ExitCode {
    let stop = match StopSignals::listen() {
        Ok(stop) => stop,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot listen for signals: {e}"))),
    };
    // An exported but empty variable (a missing CI secret) must not mean "accept anything".
    let secret = secret.or_else(|| std::env::var_os(CALLBACK_SECRET_ENV).map(|v| v.to_string_lossy().into_owned()));
    let secret = match secret.map(CallbackSecret::new).transpose() {
        Ok(secret) => secret,
        Err(e) => return output.failure(&Failure::usage(&format!("--secret / {CALLBACK_SECRET_ENV}: {e}"))),
    };
    if secret.is_none() {
        output.warning("no --secret: every callback is accepted, forged ones too");
    }
    let forward_to_shown = forward_to.as_ref().map(ToString::to_string);
    let store = match store.filter(|url| !url.is_empty()) {
        None => None,
        Some(url) => {
            // The listener prints every callback, for sessions it never saw created too.
            let mut policy = hpp_core::tracking::TrackingPolicy::default();
            policy.track_unknown_sessions = true;
            // It runs no poller: each callback is printed (on_event) as it comes.
            policy.apply_callbacks_at_once = true;
            // Its own schema: pointed at an app's database, it never reads or marks the app's
            // sessions (its hand-off prints; the app's marks orders).
            let opened = match hpp_postgres::PgStore::connect_in_schema(&url, LISTENER_SCHEMA, policy).await {
                Ok(store) => store.migrate().await.map(|()| store),
                Err(e) => Err(e),
            };
            match opened {
                // The URL may hold a password: the message never shows it.
                Ok(store) => Some(std::sync::Arc::new(store)),
                Err(e) => return output.failure(&Failure::usage(&format!("--store / {CALLBACK_STORE_ENV}: {e}"))),
            }
        }
    };
    let shared_store = store.is_some();
    let mut listener = match listen::start(port, secret.clone(), read_timeout, forward_to, store).await {
        Ok(listener) => listener,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot listen on port {port}: {e}"))),
    };
    let status_update = match &secret {
        Some(_) => format!("{}?{}=<your secret>", listener.url, CallbackSecret::QUERY_PARAM),
        None => listener.url.clone(),
    };
    say!(
        "{}",
        serde_json::json!({
            "url": listener.url,
            "secret_param": CallbackSecret::QUERY_PARAM,
            "status_update": status_update,
            "forward_to": forward_to_shown,
        })
    );
    output.note(&format!(
        "listening; register merchant_urls.status_update = {status_update} (kustom-hpp session create --status-update ...); \
         each callback is {}{}; stop with Ctrl-C",
        if forward_to_shown.is_some() { "printed and forwarded" } else { "printed" },
        if shared_store { " once by the listeners sharing the store, across restarts" } else { "" }
    ));
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return ExitCode::SUCCESS,
            received = listener.received.recv() => match received {
                Some(listen::Received::Event(event, forwarded, handed_on)) => {
                    let printed = output
                        .callback(&event)
                        .and_then(|()| forwarded.map_or(Ok(()), |f| output.forwarded(&event.event_id, &f)));
                    let _ = handed_on.send(printed.is_ok());
                    if let Err(e) = printed {
                        // stdout is gone or full: every later event would be lost too.
                        output::write_failed(&e);
                    }
                }
                Some(listen::Received::Rejected(why)) => output.callback_rejected(why),
                Some(listen::Received::StoreFailed(why)) => output.warning(&format!("the store failed (answered 503): {why}")),
                None => return ExitCode::SUCCESS,
            },
        }
    }
}
