//! A small chaos run through each transport: distributions under a seeded random mix of every
//! sandbox fault, reconciled with the outbox (the large one is `cargo xtask load --faults`).

use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_tests::chaos;

async fn check(report: chaos::ChaosReport) {
    assert!(report.reconciled(), "{report}\n{}", report.problems.join("\n"));
    assert!(report.faults > 30, "faults were injected: {report}");
    assert!(report.succeeded > 100 && report.maybe_sent > 5, "every kind of outcome occurred: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_outcomes_reconcile_with_the_outbox_under_faults() {
    check(chaos::run("reqwest", ReqwestTransport::new().unwrap(), 400, 16, 7).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_outcomes_reconcile_with_the_outbox_under_faults() {
    check(chaos::run("hyper", HyperTransport::new(), 400, 16, 11).await).await;
}
