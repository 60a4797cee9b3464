//! TLS to PostgreSQL by `sslmode`, against a real throwaway server with TLS on (the conformance
//! kit's test certificates: a root, and a leaf for `localhost` and `127.0.0.1`). Before, every
//! connection was plain text: `require` failed ("no TLS implementation configured") and
//! `verify-full` was refused as invalid.

use std::time::SystemTime;

use base64::Engine;
use hpp_core::tracking::{Applied, Input, TrackingPolicy, TrackingStore};
use hpp_postgres::PgStore;
use hpp_postgres::testing::TempPostgres;
use hpp_testing::store_kit::NoHandOff;

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_honoured_with_rustls() {
    let Some(mut pg) = TempPostgres::start_or_skip() else { return };
    let leaf = include_bytes!("../../hpp-conformance/src/tls/leaf.der");
    let key = include_bytes!("../../hpp-conformance/src/tls/leaf.key.der");
    pg.enable_tls(&pem("CERTIFICATE", leaf), &pem("PRIVATE KEY", key)).unwrap();
    let dir = std::env::temp_dir().join(format!("hpp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.crt");
    std::fs::write(&root, pem("CERTIFICATE", hpp_conformance::TEST_ROOT_DER)).unwrap();
    let url = |query: &str| format!("postgres://postgres:pl4nted-pw@127.0.0.1:{}/postgres?{query}", pg.port());
    let works = |query: String| async move {
        let store = PgStore::connect(&query, TrackingPolicy::default()).await?;
        store.migrate().await?;
        let track = Input::Track { session_id: "s1", expires_at: None, order_key: None };
        store.apply(track, SystemTime::now(), &NoHandOff).await
    };
    let done = Applied::Done { handed_off: None };
    let root = root.display().to_string();
    // Verified against the root, by name (127.0.0.1 is in the leaf), and by chain only.
    assert_eq!(works(url(&format!("sslmode=verify-full&sslrootcert={root}"))).await.unwrap(), done);
    assert_eq!(works(url(&format!("sslmode=verify-ca&sslrootcert={root}"))).await.unwrap(), done);
    // Encrypted without a root (as libpq's require), and plain text where asked for.
    assert_eq!(works(url("sslmode=require")).await.unwrap(), done);
    assert_eq!(works(url("sslmode=disable")).await.unwrap(), done);
    // Mozilla's roots do not vouch for the test root: refused in the handshake.
    let refused = works(url("sslmode=verify-full")).await.unwrap_err();
    let shown = format!("{refused} {refused:?}");
    assert!(shown.to_lowercase().contains("certificate"), "{shown}");
    assert!(!shown.contains("pl4nted-pw"), "{shown}");
    let bogus = PgStore::connect(&url("sslmode=bogus"), TrackingPolicy::default()).await.unwrap_err();
    assert!(bogus.to_string().contains("sslmode"), "{bogus}");
    let _ = std::fs::remove_dir_all(&dir);
}
