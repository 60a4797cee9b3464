//! Knowing, exactly once, that an order was paid: an axum app with the callback receiver and a
//! poller on a PostgreSQL store, against the sandbox. Run it with
//! `cargo run -p hpp-tests --example paid_once` (it starts a throwaway PostgreSQL from the
//! installed binaries, or uses `DATABASE_URL`).
//!
//! In production the pieces are the same: `PgStore::connect(DATABASE_URL)`, the receiver's
//! router merged into your app, one `Poller` per replica, your `HandOff` marking the order paid
//! in the store's transaction.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{FinalStatus, Finished, HandOff, TrackingPolicy};
use hpp_core::{Client, CreateSession, MerchantUrls, SessionStatus};
use hpp_hyper::HyperTransport;
use hpp_postgres::PgStore;
use hpp_runtime::TokioTimer;
use hpp_sandbox::{Sandbox, SandboxConfig};
use hpp_tracker::CallbackReceiver;
use hpp_tracker::Poller;

/// Your app's work when a session ends: here, mark the order (the README's). It runs in the
/// store's transaction: the order's row and the store's "handed off" commit together, once per
/// order.
struct MarkOrder;

impl HandOff<PgStore> for MarkOrder {
    async fn hand_off(
        &self,
        tx: &mut hpp_postgres::PgTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let order = finished.order_key.as_deref().ok_or("tracked without an order key")?;
        let marked = match finished.status {
            // Another session of this order was paid first: ship nothing more, refund one.
            FinalStatus::CompletedTwice => {
                tx.execute("UPDATE orders SET refund_due = true WHERE id = $1", &[&order]).await?
            }
            status => tx.execute("UPDATE orders SET payment = $2 WHERE id = $1", &[&order, &status.as_str()]).await?,
        };
        if marked == 0 {
            // The callback beat the checkout's commit: fail, and it is handed off again later.
            return Err(format!("order {order} is not stored yet").into());
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Metrics: the tracker's, through the `metrics` facade, in Prometheus's text format (serve
    // `metrics.render()` at /metrics; here they are printed at the end).
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;

    // The database: yours, or a throwaway one for this example.
    let throwaway;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            throwaway = hpp_postgres::testing::TempPostgres::start_or_skip().ok_or("PostgreSQL is not installed")?;
            throwaway.url()
        }
    };
    let store = Arc::new(PgStore::connect(&url, TrackingPolicy::default()).await?);
    store.migrate().await?;
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS orders \
         (id text PRIMARY KEY, payment text, refund_due boolean NOT NULL DEFAULT false)",
    )
    .await?;

    // The API (here the sandbox) and a client for it.
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), TokioTimer::new());

    // The app: the callback receiver in its router, a poller beside it.
    let secret = CallbackSecret::new("a-long-random-secret-from-your-vault")?;
    let receiver = CallbackReceiver::new(store.clone(), Arc::new(MarkOrder), secret.clone(), TokioTimer::new());
    let app: axum::Router = receiver.router("/hpp/callback");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let callback_url = format!("http://{}/hpp/callback", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let poller = Poller::new(store.clone(), client.clone(), Arc::new(MarkOrder), TokioTimer::new());
    tokio::spawn(poller.run(std::future::pending(), Duration::from_secs(10)));

    // Checkout: create the session, store the order and track the session in one transaction.
    let mut urls = MerchantUrls::default();
    urls.status_update = Some(secret.append_to(&callback_url));
    let mut order = CreateSession::new("https://shop.example/orders/1");
    order.merchant_urls = Some(urls);
    let created = client.create_session(&order).await?;
    let session_id = created.session_id.clone().ok_or("no session id")?;
    let expires_at = created.expires_at_time();
    let order_id = "order-1";
    db.batch_execute("BEGIN").await?;
    db.execute("INSERT INTO orders (id) VALUES ($1)", &[&order_id]).await?;
    store.track_in(&db, &session_id, Some(order_id), expires_at, SystemTime::now()).await?;
    db.batch_execute("COMMIT").await?;

    // The consumer pays; the callback arrives and wakes the tracker; a read of the session
    // confirms it (the API decides); the order is marked, once.
    sandbox.set_status(&session_id, SessionStatus::Completed).ok_or("no such session")?;
    let payment = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let row = db.query_one("SELECT payment FROM orders WHERE id = $1", &[&order_id]).await?;
            if let Some(payment) = row.get::<_, Option<String>>(0) {
                return Ok::<_, tokio_postgres::Error>(payment);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await??;
    println!("order for session {session_id}: {payment}");
    assert_eq!(payment, "COMPLETED");
    let exported = metrics.render();
    for line in exported.lines().filter(|line| line.starts_with("hpp_tracker_") && !line.contains("_seconds")) {
        println!("{line}");
    }
    assert!(exported.contains("hpp_tracker_hand_offs_total{"), "{exported}");
    Ok(())
}
