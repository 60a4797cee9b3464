//! Distributions under a seeded random mix of every fault the sandbox knows, reconciled against
//! its outbox: every success delivered exactly once, every "not sent" absent, every "maybe sent"
//! delivered at most once, nobody twice. `cargo xtask load --faults [SEED]` runs it at scale; a
//! smaller run is in the test suite (`tests/tests/chaos.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hpp_core::retry::RetryPolicy;
use hpp_core::{Client, CreateSession, DistributeSession, Distribution, Transport};
use hpp_sandbox::{Fault, Sandbox, SandboxConfig};

/// The per-call timeout of each distribution; `delay` faults wait longer than this.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(400);

/// What happened to each distribution, and whether the outbox agrees.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// The transport's name.
    pub name: String,
    /// Reported delivered.
    pub succeeded: usize,
    /// Reported not sent (safe to send again).
    pub not_sent: usize,
    /// Reported "may have been sent".
    pub maybe_sent: usize,
    /// Of those, how many the outbox holds.
    pub maybe_delivered: usize,
    /// Faults injected.
    pub faults: usize,
    /// Every disagreement between what the client reported and what the outbox holds.
    pub problems: Vec<String>,
}

impl ChaosReport {
    /// Whether the outbox agrees with every report.
    pub fn reconciled(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} faults {:>5}  succeeded {:>6}  not sent {:>5}  maybe sent {:>5} (delivered {:>5})  reconciliation: {}",
            self.name,
            self.faults,
            self.succeeded,
            self.not_sent,
            self.maybe_sent,
            self.maybe_delivered,
            if self.reconciled() { "ok".to_owned() } else { format!("{} problems", self.problems.len()) }
        )
    }
}

/// splitmix64: a seeded, reproducible stream (no dependency needed for a test's dice).
fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fault for request `i` under `seed`, if any: about one request in four gets one.
fn fault_for(seed: u64, i: usize) -> Option<Fault> {
    let roll = splitmix(seed ^ splitmix(i as u64));
    if !roll.is_multiple_of(4) {
        return None;
    }
    let kind = match (roll >> 8) % 8 {
        0 => serde_json::json!({"kind": "reset_before_read"}),
        1 => serde_json::json!({"kind": "reset_after_read"}),
        2 => serde_json::json!({"kind": "status", "status": 503, "retry_after": 0}),
        3 => serde_json::json!({"kind": "status", "status": 429, "retry_after": 0}),
        4 => serde_json::json!({"kind": "delay", "ms": CALL_TIMEOUT.as_millis() as u64 * 3}),
        5 => serde_json::json!({"kind": "truncated_body"}),
        6 => serde_json::json!({"kind": "oversized_body", "bytes": 2 * 1024 * 1024, "status": 201}),
        _ => serde_json::json!({"kind": "status", "status": 500}),
    };
    serde_json::from_value(kind).ok()
}

/// Sends `requests` distributions, `in_flight` at a time, through `transport` to a fresh
/// sandbox injecting seeded faults, and reconciles the outcomes with the outbox.
pub async fn run<T: Transport + Send + Sync + 'static>(
    name: &str,
    transport: T,
    requests: usize,
    in_flight: usize,
    seed: u64,
) -> ChaosReport {
    let mut config = SandboxConfig::default();
    config.email_limit = u32::MAX;
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    // Fast backoff: the rules are the default policy's.
    let policy = RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5));
    let client =
        Client::new(sandbox.client_config(), transport, hpp_runtime::TokioTimer::new()).with_retry_policy(policy);
    let created = client.create_session(&CreateSession::new("https://x.example/orders/chaos")).await;
    let url = Arc::new(created.expect("create").distribution_url.expect("distribution_url"));
    let (client, sandbox) = (Arc::new(client), Arc::new(sandbox));
    let next = Arc::new(AtomicUsize::new(0));
    let injected = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (client, sandbox, url, next, injected) =
            (client.clone(), sandbox.clone(), url.clone(), next.clone(), injected.clone());
        let prefix = format!("chaos-{name}-");
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            let options = RetryPolicy::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
                .with_attempt_timeout(CALL_TIMEOUT);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return outcomes;
                }
                if let Some(fault) = fault_for(seed, i) {
                    sandbox.inject_faults([fault]);
                    injected.fetch_add(1, Ordering::Relaxed);
                }
                let recipient = format!("{prefix}{i}@example.com");
                let op = DistributeSession::new(url.as_str(), Distribution::email(&recipient).expect("valid"));
                let outcome = match client.send_with(&op, &options).await {
                    Ok(()) => Outcome::Succeeded,
                    Err(e) if e.side_effect() == hpp_core::SideEffect::DidNotHappen => Outcome::NotSent,
                    Err(_) => Outcome::MaybeSent,
                };
                outcomes.push((recipient, outcome));
            }
        });
    }
    let mut outcomes = Vec::with_capacity(requests);
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done.expect("a worker"));
    }
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for message in sandbox.outbox() {
        *delivered.entry(message.recipient).or_default() += 1;
    }
    let mut report =
        ChaosReport { name: name.to_owned(), faults: injected.load(Ordering::Relaxed), ..ChaosReport::default() };
    for (recipient, outcome) in &outcomes {
        let copies = delivered.remove(recipient).unwrap_or(0);
        match outcome {
            Outcome::Succeeded => {
                report.succeeded += 1;
                if copies != 1 {
                    report.problems.push(format!("{recipient}: reported delivered, in the outbox {copies} times"));
                }
            }
            Outcome::NotSent => {
                report.not_sent += 1;
                if copies != 0 {
                    report.problems.push(format!("{recipient}: reported not sent, in the outbox {copies} times"));
                }
            }
            Outcome::MaybeSent => {
                report.maybe_sent += 1;
                report.maybe_delivered += usize::from(copies > 0);
                if copies > 1 {
                    report.problems.push(format!("{recipient}: may have been sent, in the outbox {copies} times"));
                }
            }
        }
    }
    for (recipient, copies) in delivered {
        report.problems.push(format!("{recipient}: in the outbox {copies} times, never sent by this run"));
    }
    if outcomes.len() != requests {
        report.problems.push(format!("{} outcomes for {requests} requests", outcomes.len()));
    }
    report
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeeded,
    NotSent,
    MaybeSent,
}
