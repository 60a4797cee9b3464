//! `kustom-hpp tracking`: an operator finds a parked hand-off in a real PostgreSQL store, retries
//! it (the app's poller then hands it off, once) and forgets a session; the store's password is
//! never shown.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::tracking::{
    Applied, Due, FinalStatus, Finished, HandOff, HandOffError, Input, TrackingPolicy, TrackingStore,
};
use hpp_postgres::{PgStore, PgTx};

use crate::{BIN, json};

/// The app's hand-off: fails with the kind `ledger_down` while `failing`, else records the
/// session as shipped in its own table.
struct Ledger {
    failing: bool,
}

impl HandOff<PgStore> for Ledger {
    async fn hand_off(
        &self,
        tx: &mut PgTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.failing {
            return Err(Box::new(HandOffError::new("ledger_down", "the ledger refused")));
        }
        tx.execute("INSERT INTO shipped (session_id) VALUES ($1)", &[&finished.session_id]).await?;
        Ok(())
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn tracking(store: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(["--json", "tracking"]).args(args).env("KUSTOM_HPP_TRACKING_STORE", store).output().unwrap()
}

#[test]
fn an_operator_finds_retries_and_forgets_a_parked_hand_off() {
    let Some(pg) = hpp_postgres::testing::TempPostgres::start_or_skip() else { return };
    let url = pg.url();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut policy = TrackingPolicy::default();
    policy.park_after_failures = 2;
    let (store, reference) = runtime.block_on(async {
        let store = PgStore::connect(&url, policy).await.unwrap();
        store.migrate().await.unwrap();
        let (app, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        app.batch_execute("CREATE TABLE shipped (session_id text NOT NULL)").await.unwrap();
        let t = 1_800_000_000;
        for (id, order) in [("s-parked", "order-7"), ("s-waiting", "order-8")] {
            let track = Input::Track { session_id: id, expires_at: Some(at(t + 36_000)), order_key: Some(order) };
            store.apply(track, at(t), &Ledger { failing: false }).await.unwrap();
        }
        let mut paid = hpp_core::Session::default();
        paid.status = Some(hpp_core::SessionStatus::Completed);
        for n in 0..2 {
            let read = Input::Read { session_id: "s-parked", result: Ok(&paid) };
            assert!(store.apply(read, at(t + 100 + n * 3600), &Ledger { failing: true }).await.is_err());
        }
        let state = store.get("s-parked").await.unwrap().unwrap();
        assert!(state.is_parked());
        (store, state.reference())
    });

    // Found: in the overview and in the list, by its reference (as the logs name it).
    let status = tracking(&url, &["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    let status = json(&status.stdout);
    assert_eq!((status["waiting"].as_u64(), status["parked"].as_u64()), (Some(1), Some(1)), "{status}");
    let parked = &status["parked_sessions"][0];
    assert_eq!(parked["reference"], reference.as_str());
    assert_eq!(parked["last_error_kind"], "ledger_down");
    assert_eq!(parked["failures"], 2);
    let listed = json(&tracking(&url, &["list", "--reference", &reference]).stdout);
    assert_eq!(listed["sessions"][0]["session_id"], "s-parked", "{listed}");
    let by_order = json(&tracking(&url, &["list", "--order", "order-8"]).stdout);
    assert_eq!(by_order["sessions"][0]["standing"], "waiting", "{by_order}");
    let human = Command::new(BIN).args(["tracking", "status", "--store", &url]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("parked") && human.contains(&reference) && human.contains("ledger_down"), "{human}");

    // Retried: marked due; the app's poller hands it off, once.
    let retried = tracking(&url, &["retry", &reference]);
    assert_eq!(retried.status.code(), Some(0), "{}", String::from_utf8_lossy(&retried.stderr));
    assert_eq!(json(&retried.stdout)["retried"], 1);
    assert_eq!(tracking(&url, &["retry", &reference]).status.code(), Some(3), "no longer parked");
    runtime.block_on(async {
        let now = SystemTime::now();
        assert_eq!(
            store.claim_due("app-poller", 10, Duration::from_secs(60), now).await.unwrap(),
            [Due::Read("s-parked".to_owned())]
        );
        let mut paid = hpp_core::Session::default();
        paid.status = Some(hpp_core::SessionStatus::Completed);
        let read = Input::Read { session_id: "s-parked", result: Ok(&paid) };
        let applied = store.apply(read, now, &Ledger { failing: false }).await.unwrap();
        assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
        assert!(store.apply(read, now, &Ledger { failing: false }).await.is_ok());
    });
    let shipped = json(&tracking(&url, &["list", "--reference", &reference]).stdout);
    assert_eq!(shipped["sessions"][0]["standing"], "handed_off", "{shipped}");

    // Forgotten: never without --yes from a script; with it, gone.
    let waiting = by_order["sessions"][0]["reference"].as_str().unwrap().to_owned();
    let refused = tracking(&url, &["forget", &waiting]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    let forgotten = tracking(&url, &["forget", "--yes", &waiting]);
    assert_eq!(forgotten.status.code(), Some(0), "{}", String::from_utf8_lossy(&forgotten.stderr));
    assert_eq!(tracking(&url, &["forget", "--yes", &waiting]).status.code(), Some(3));
    assert!(runtime.block_on(store.get("s-waiting")).unwrap().is_none());
}

#[test]
fn the_stores_password_is_never_shown() {
    let url = "postgres://app:hunter2-tracking-secret@127.0.0.1:1/shop?connect_timeout=2";
    for args in [&["status"][..], &["list", "--parked"], &["retry", "--all-parked"], &["forget", "--yes", "trk-0"]] {
        let out = tracking(url, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(shown.contains("KUSTOM_HPP_TRACKING_STORE"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    let help = Command::new(BIN)
        .args(["tracking", "status", "--help"])
        .env("KUSTOM_HPP_TRACKING_STORE", url)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("hunter2"));
}
