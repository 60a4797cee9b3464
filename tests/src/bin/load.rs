//! Load test: many distributions, many in flight, through each transport to the sandbox, then an
//! exact check of the outbox. Run with `cargo xtask load [REQUESTS] [IN_FLIGHT] [--faults [SEED]]`;
//! with `--faults`, the sandbox injects a seeded random mix of every fault it knows and the
//! outcomes are reconciled with the outbox (`hpp_tests::chaos`); exit 1 when they disagree.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hpp_core::retry::RetryPolicy;
use hpp_core::{Client, CreateSession, Distribution, Transport};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig};

/// Peak resident memory of this process so far, from /proc (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run<T: Transport + Send + Sync + 'static>(
    name: &str,
    transport: T,
    sandbox: &Sandbox,
    requests: usize,
    in_flight: usize,
) {
    let client = Arc::new(
        Client::new(sandbox.client_config(), transport, hpp_runtime::TokioTimer::new())
            .with_retry_policy(RetryPolicy::none()),
    );
    let created = client.create_session(&CreateSession::new("https://x.example/orders/load")).await.expect("create");
    let url = Arc::new(created.distribution_url.expect("distribution_url"));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (client, url, next, name) = (client.clone(), url.clone(), next.clone(), name.to_owned());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return (latencies, failures);
                }
                let distribution = Distribution::email(&format!("load-{name}-{i}@example.com")).expect("valid address");
                let t = Instant::now();
                match client.distribute_session(url.as_str(), distribution).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => {
                        failures += 1;
                        eprintln!("{name}: {e}");
                    }
                }
            }
        });
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut failures = 0;
    while let Some(done) = workers.join_next().await {
        let (mut l, f) = done.expect("worker");
        latencies.append(&mut l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let prefix = format!("load-{name}-");
    let delivered: Vec<String> =
        sandbox.outbox().into_iter().map(|m| m.recipient).filter(|r| r.starts_with(&prefix)).collect();
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    println!(
        "{name:<8} {requests} distributions, {in_flight} in flight: {:>7.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  \
         failures {failures}  outbox {} (unique {})  peak RSS {} KiB",
        requests as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        delivered.len(),
        unique.len(),
        peak_rss_kib().map_or_else(|| "?".to_owned(), |k| k.to_string()),
    );
    assert_eq!(failures, 0, "{name}: every distribution succeeds");
    assert_eq!(delivered.len(), requests, "{name}: the outbox has exactly one message per success");
    assert_eq!(unique.len(), requests, "{name}: no message was delivered twice");
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let faults = args.iter().position(|a| a == "--faults");
    let seed = faults.and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut numbers = args.iter().take(faults.unwrap_or(args.len())).filter_map(|a| a.parse::<usize>().ok());
    let requests = numbers.next().unwrap_or(10_000);
    let in_flight = numbers.next().unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        if faults.is_some() {
            println!("chaos: {requests} distributions per transport, {in_flight} in flight, seed {seed}");
            let reports = [
                hpp_tests::chaos::run(
                    "reqwest",
                    ReqwestTransport::new().expect("reqwest client"),
                    requests,
                    in_flight,
                    seed,
                )
                .await,
                hpp_tests::chaos::run("hyper", HyperTransport::new(), requests, in_flight, seed).await,
            ];
            let mut ok = true;
            for report in &reports {
                println!("{report}");
                for problem in report.problems.iter().take(20) {
                    println!("  {problem}");
                }
                ok &= report.reconciled();
            }
            return if ok { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE };
        }
        let mut config = SandboxConfig::default();
        config.email_limit = u32::MAX;
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        run("reqwest", ReqwestTransport::new().expect("reqwest client"), &sandbox, requests, in_flight).await;
        run("hyper", HyperTransport::new(), &sandbox, requests, in_flight).await;
        sandbox.stop().await;
        std::process::ExitCode::SUCCESS
    })
}
