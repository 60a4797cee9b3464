//! `paid_once` on sqlx: an axum app whose database is reached through sqlx records each order and
//! tracks its session in one sqlx transaction, and marks the order paid, once, in the tracker's
//! step transaction; the callback receiver and a poller run on `hpp_sqlx::SqlxStore` over the
//! app's own pool. Against the sandbox. Run it with
//! `cargo run -p hpp-tests --example paid_once_sqlx` (a throwaway PostgreSQL from the installed
//! binaries, or `DATABASE_URL`). It exits 0 once every order is marked exactly once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{FinalStatus, Finished, HandOff, TrackingPolicy};
use hpp_core::{Client, CreateSession, MerchantUrls, SessionStatus};
use hpp_hyper::HyperTransport;
use hpp_runtime::TokioTimer;
use hpp_sandbox::{Sandbox, SandboxConfig};
use hpp_sqlx::sqlx;
use hpp_sqlx::{SqlxStore, SqlxTx};
use hpp_tracker::{CallbackReceiver, Poller};

/// Your app's work when a session ends: mark the order, through the step's transaction (the
/// order's row and the tracker's "handed off" commit together, once per order).
struct MarkOrder;

impl HandOff<SqlxStore> for MarkOrder {
    async fn hand_off(
        &self,
        tx: &mut SqlxTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let order = finished.order_key.as_deref().ok_or("tracked without an order key")?;
        let query = match finished.status {
            // Another session of this order was paid first: ship nothing more, refund one.
            FinalStatus::CompletedTwice => sqlx::query("UPDATE orders SET refund_due = true WHERE id = $1").bind(order),
            status => sqlx::query("UPDATE orders SET payment = $2, marked = marked + 1 WHERE id = $1")
                .bind(order)
                .bind(status.as_str()),
        };
        if query.execute(tx.connection()).await?.rows_affected() == 0 {
            // The callback beat the checkout's commit: fail, and it is handed off again later.
            return Err(format!("order {order} is not stored yet").into());
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The database: yours, or a throwaway one for this example; the app's own sqlx pool.
    let throwaway;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            throwaway = hpp_postgres::testing::TempPostgres::start_or_skip().ok_or("PostgreSQL is not installed")?;
            throwaway.url()
        }
    };
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&url).await?;
    let store = Arc::new(SqlxStore::new(pool.clone(), TrackingPolicy::default()));
    store.migrate().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, payment text, \
         marked integer NOT NULL DEFAULT 0, refund_due boolean NOT NULL DEFAULT false)",
    )
    .execute(&pool)
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

    // Checkout, three orders: create each session, then store the order and track its session
    // in one sqlx transaction.
    let mut orders = Vec::new();
    for n in 1..=3 {
        let mut urls = MerchantUrls::default();
        urls.status_update = Some(secret.append_to(&callback_url));
        let mut create = CreateSession::new(format!("https://shop.example/orders/{n}"));
        create.merchant_urls = Some(urls);
        let created = client.create_session(&create).await?;
        let session_id = created.session_id.clone().ok_or("no session id")?;
        let order_id = format!("order-{n}");
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO orders (id) VALUES ($1)").bind(&order_id).execute(&mut *tx).await?;
        store.track_in(&mut *tx, &session_id, Some(&order_id), created.expires_at_time(), SystemTime::now()).await?;
        tx.commit().await?;
        orders.push((order_id, session_id));
    }

    // Each consumer pays; callbacks wake the tracker, a read confirms each payment, each order
    // is marked once.
    for (_, session_id) in &orders {
        sandbox.set_status(session_id, SessionStatus::Completed).ok_or("no such session")?;
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (marked,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM orders WHERE payment IS NOT NULL").fetch_one(&pool).await?;
            if marked == orders.len() as i64 {
                return Ok::<_, sqlx::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await??;
    for (order_id, _) in &orders {
        let (payment, marked): (String, i32) =
            sqlx::query_as("SELECT payment, marked FROM orders WHERE id = $1").bind(order_id).fetch_one(&pool).await?;
        println!("{order_id}: {payment}, marked {marked} time(s)");
        assert_eq!((payment.as_str(), marked), ("COMPLETED", 1), "{order_id}");
    }
    Ok(())
}
