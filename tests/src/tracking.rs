//! Support shared by the tracking tests and the chaos run (`cargo xtask track --chaos`): a wall
//! clock the sandbox and the tracker share and the driver moves, and the app's hand-off into its
//! own table.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use hpp_core::Timer;
use hpp_core::tracking::{Finished, HandOff};

/// What a `Timer`'s sleep returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
use hpp_postgres::PgStore;
use hpp_sandbox::Sandbox;

/// The wall clock moved by the driver, the same way as the sandbox's (so that sessions expire for
/// both at once and two days pass in seconds). Sleeps are real.
#[derive(Debug, Clone, Default)]
pub struct SharedClock(Arc<AtomicI64>);

impl SharedClock {
    /// Moves this clock and `sandbox`'s by `secs`.
    pub fn advance(&self, sandbox: &Sandbox, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
        sandbox.advance_clock(secs);
    }
}

impl Timer for SharedClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst).unsigned_abs())
    }
    fn system_now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.0.load(Ordering::SeqCst).unsigned_abs())
    }
    fn jitter(&self) -> f64 {
        0.5
    }
}

/// Serves `router` on a free loopback port until the runtime ends; its `http://` base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// The app's table: one row per hand-off (no unique constraint, so that a second hand-off would
/// show), with the shared clock's time, the order and whether the API confirmed the status.
pub const APP_TABLE: &str = "CREATE TABLE IF NOT EXISTS shipped (session_id text NOT NULL, status text NOT NULL, \
     at timestamptz NOT NULL, order_key text, confirmed boolean NOT NULL DEFAULT true)";

/// The app: marks the order in its own table, in the store's transaction.
#[derive(Debug, Clone, Default)]
pub struct Ship(pub SharedClock);

impl HandOff<PgStore> for Ship {
    async fn hand_off(
        &self,
        tx: &mut hpp_postgres::PgTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tx.execute(
            "INSERT INTO shipped (session_id, status, at, order_key, confirmed) VALUES ($1, $2, $3, $4, $5)",
            &[
                &finished.session_id,
                &finished.status.as_str(),
                &self.0.system_now(),
                &finished.order_key,
                &finished.confirmed,
            ],
        )
        .await?;
        Ok(())
    }
}
