//! The tracking chaos run: `cargo xtask track --chaos [SEED]`. Three replicas of an app behind a
//! load balancer, each with the axum receiver and a poller, on one PostgreSQL store (a throwaway
//! server); 2,000 sessions paid, cancelled, disabled or left to expire by the sandbox, its
//! callbacks lost, duplicated and held back at random (seeded); one replica killed midway (its
//! server, poller and connections gone, its transactions rolled back) and started again. Time
//! runs on a clock shared with the sandbox, so two days pass in seconds.
//!
//! Every tenth order has two sessions (the consumer came back through a second link), and some
//! pay both; some consumers pay seconds before expiry while their callback is held back past it;
//! someone who learned the callback secret forges COMPLETED callbacks for sessions that are
//! WAITING and for sessions never created; the app's hand-off panics once for three sessions and
//! hangs once for three more; the API answers three reads 429.
//!
//! It then reconciles the app's own table with what the sandbox did: one line per outcome, one
//! `ORDERS` line (orders paid once, paid twice and flagged, shipped twice, lost, shipped on a
//! forged callback), and exit 1 unless every session's final status reached the app exactly
//! once, none lost, none early (an expiry before `expires_at`, or a wrong status), each within
//! the stated bound of its real change, and every order was shipped once and never on a
//! forged word.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{TrackingPolicy, TrackingStore};
use hpp_core::{Client, CreateSession, MerchantUrls, SessionStatus, Timer};
use hpp_hyper::HyperTransport;
use hpp_postgres::PgStore;
use hpp_postgres::testing::TempPostgres;
use hpp_sandbox::{CallbackFault, CallbackFaults, Fault, Sandbox, SandboxConfig};
use hpp_tests::tracking::{APP_TABLE, SharedClock, Ship, serve};
use hpp_tracker::CallbackReceiver;
use hpp_tracker::{Poller, PollerOptions};

const SESSIONS: usize = 2000;
const REPLICAS: usize = 3;
const SECRET: &str = "c7a1f0e2-5b3d-4e8f-9a6c-0d2b4f6e8a1c";

type ReplicaPoller = Poller<PgStore, HyperTransport<hpp_hyper::DefaultConnector>, ChaosShip, SharedClock>;

/// The app's hand-off ([`Ship`]), except that it panics the first time for some sessions and
/// hangs the first time for others (the receiver's budget or the poller's step budget abandons
/// it): each must still be handed off exactly once, and nothing else held up.
#[derive(Clone)]
struct ChaosShip {
    ship: Ship,
    panic_once: Arc<Mutex<std::collections::HashSet<String>>>,
    hang_once: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl hpp_core::tracking::HandOff<PgStore> for ChaosShip {
    async fn hand_off(
        &self,
        tx: &mut hpp_postgres::PgTx,
        finished: &hpp_core::tracking::Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.panic_once.lock().unwrap().remove(&finished.session_id) {
            panic!("hpp-track: the app's hand-off panics once for this session (chaos)");
        }
        if self.hang_once.lock().unwrap().remove(&finished.session_id) {
            std::future::pending::<()>().await;
        }
        self.ship.hand_off(tx, finished).await
    }
}

/// One replica: its store (own connections), its receiver's server and its poller.
struct Replica {
    url: String,
    server: tokio::task::JoinHandle<()>,
    kill: tokio::sync::watch::Sender<bool>,
    poller: Arc<ReplicaPoller>,
    /// Its poller's round under way, if any (killed with it).
    round: Option<tokio::task::JoinHandle<()>>,
}

impl Replica {
    async fn start(
        n: usize,
        pg: &str,
        client: &Client<HyperTransport<hpp_hyper::DefaultConnector>>,
        clock: &SharedClock,
        app: &ChaosShip,
    ) -> Self {
        // Its steps are bounded on the server in seconds (real time), so that a replica cut off
        // mid-step frees its sessions within the run.
        let store = PgStore::connect(pg, policy()).await.expect("the store").with_step_timeout(Duration::from_secs(2));
        let store = Arc::new(store);
        let secret = CallbackSecret::new(SECRET).expect("a valid secret");
        let receiver = CallbackReceiver::new(store.clone(), Arc::new(app.clone()), secret, clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let router: axum::Router = receiver.router("/hpp/callback");
        let (kill, killed) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let mut killed = killed.clone();
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    // Killed: the connection and its request in flight are dropped where they are.
                    tokio::select! {
                        _ = connection => {}
                        _ = killed.wait_for(|k| *k) => {}
                    }
                });
            }
        });
        let mut options = PollerOptions::default();
        options.owner = format!("replica-{n}");
        options.slots = 16;
        options.step_budget = Duration::from_secs(2); // real time: a hung hand-off is abandoned soon
        let poller =
            Arc::new(Poller::with_options(store, client.clone(), Arc::new(app.clone()), clock.clone(), options));
        Self { url, server, kill, poller, round: None }
    }

    /// Kills it: the server stops accepting, requests in flight and the poller's round are
    /// dropped mid-transaction (their connections close, so PostgreSQL rolls them back; the
    /// round's claims lapse with their lease).
    fn kill(self) {
        let _ = self.kill.send(true);
        self.server.abort();
        if let Some(round) = self.round {
            round.abort();
        }
    }
}

/// The default policy: the schedule apps get (reads back off to `max_interval`, 4 hours, the
/// bound below).
fn policy() -> TrackingPolicy {
    TrackingPolicy::default()
}

/// A TCP proxy between a replica and PostgreSQL that can be cut: while cut, nothing flows either
/// way and no connection is closed (a partition, a frozen VM), until it heals.
struct Partition {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Partition {
    async fn start(to: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else { continue };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, cut_rx.clone()));
                tokio::spawn(pipe(server_read, client_write, cut_rx.clone()));
            }
        });
        Self { port, cut }
    }
}

/// Copies bytes one way, holding them while the partition is cut.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut cut: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buf).await else { return };
        // Cut: held, the end of the stream too, until the partition heals.
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The load balancer: each callback to a live replica, round robin; 502 when none is up.
#[derive(Clone)]
struct Balancer {
    replicas: Arc<Mutex<Vec<Option<String>>>>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    transport: HyperTransport<hpp_hyper::DefaultConnector>,
}

impl Balancer {
    async fn forward(self, request: http::Request<Body>) -> http::Response<Body> {
        use hpp_core::Transport;
        let path = request.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
        let Ok(body) = axum::body::to_bytes(request.into_body(), 1 << 20).await else {
            return status(400);
        };
        let live: Vec<String> = self.replicas.lock().unwrap().iter().flatten().cloned().collect();
        if live.is_empty() {
            return status(502);
        }
        let target = &live[self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % live.len()];
        let mut forwarded = http::Request::new(body.to_vec());
        *forwarded.method_mut() = http::Method::POST;
        *forwarded.uri_mut() = match format!("{target}{path}").parse() {
            Ok(uri) => uri,
            Err(_) => return status(400),
        };
        match self.transport.send(forwarded).await {
            Ok(response) => status(response.status().as_u16()),
            Err(_) => status(502),
        }
    }
}

fn status(code: u16) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
    response
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Outcome {
    Paid,
    Cancelled,
    Disabled,
    Expired,
    /// Paid seconds before expiry, its callback held back past it.
    PaidLate,
}

impl Outcome {
    fn expected(self) -> &'static str {
        match self {
            Self::Paid | Self::PaidLate => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::PaidLate => "LATE PAID",
            other => other.expected(),
        }
    }

    fn paid(self) -> bool {
        matches!(self, Self::Paid | Self::PaidLate)
    }
}

/// Late payments, forged callbacks for WAITING sessions, forged callbacks for unknown sessions.
const LATE: usize = 20;
const FORGED: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench") {
        return bench::run().await;
    }
    if let [flag, kind, in_flight, callbacks] = args.as_slice()
        && flag == "--instructions"
    {
        return bench::instructions(kind, in_flight.parse().unwrap_or(1), callbacks.parse().unwrap_or(100)).await;
    }
    if !args.iter().any(|a| a == "--chaos") {
        eprintln!("usage: hpp-track --chaos [SEED] | --bench");
        return ExitCode::from(2);
    }
    let seed: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1);
    let started = Instant::now();
    let Some(pg) = TempPostgres::start_or_skip() else {
        eprintln!("hpp-track: PostgreSQL is needed (apt-get install postgresql)");
        return ExitCode::FAILURE;
    };
    let clock = SharedClock::default();
    let setup = PgStore::connect(&pg.url(), policy()).await.expect("the store");
    setup.migrate().await.expect("the schema");
    let (app, connection) =
        tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.expect("the app's connection");
    tokio::spawn(connection);
    app.batch_execute(APP_TABLE).await.expect("the app's table");

    let mut config = SandboxConfig::default();
    config.callback_retry_delay = Duration::from_millis(20);
    config.callback_faults = {
        let mut faults = CallbackFaults::default();
        faults.drop = 0.15;
        faults.duplicate = 0.15;
        faults.delay = 0.1;
        faults.delay_by = Duration::from_millis(3500);
        faults.seed = seed;
        faults
    };
    let sandbox = Sandbox::start(config).await.expect("the sandbox");
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());

    // The app; some of its hand-offs panic or hang once (the sessions are chosen below).
    let chaos_app = ChaosShip { ship: Ship(clock.clone()), panic_once: Arc::default(), hang_once: Arc::default() };
    // Replica 2 reaches PostgreSQL through a link that is cut midway (a partition) and heals.
    let partition = Partition::start(pg.port()).await;
    let partitioned_url = format!("postgres://postgres@127.0.0.1:{}/postgres", partition.port);
    let mut replicas: Vec<Option<Replica>> = Vec::new();
    for n in 0..REPLICAS {
        let url = if n == 2 { partitioned_url.clone() } else { pg.url() };
        replicas.push(Some(Replica::start(n, &url, &client, &clock, &chaos_app).await));
    }
    let balancer = Balancer {
        replicas: Arc::new(Mutex::new(replicas.iter().map(|r| r.as_ref().map(|r| r.url.clone())).collect())),
        next: Arc::default(),
        transport: HyperTransport::new(),
    };
    let lb = balancer.clone();
    let lb_url =
        serve(axum::Router::new().fallback(move |request: http::Request<Body>| lb.clone().forward(request))).await;

    // The sessions, each tracked in the app's transaction as it is created; outcomes by seed.
    let secret = CallbackSecret::new(SECRET).expect("a valid secret");
    let mut draws = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut sessions: Vec<(String, Outcome, SystemTime)> = Vec::with_capacity(SESSIONS);
    // Every tenth order has two sessions: the session before it's.
    let order_of = |i: usize| if i % 10 == 9 { format!("order-{}", i - 1) } else { format!("order-{i}") };
    for i in 0..SESSIONS {
        let mut urls = MerchantUrls::default();
        urls.status_update = Some(secret.append_to(&format!("{lb_url}/hpp/callback?sid={{{{session_id}}}}")));
        let mut op = CreateSession::new("https://shop.example/orders/1");
        op.merchant_urls = Some(urls);
        let created = client.create_session(&op).await.expect("created");
        let id = created.session_id.clone().expect("an id");
        let expires_at = created.expires_at.as_deref().and_then(hpp_core::__private::time::parse_rfc3339);
        setup.track_in(&app, &id, Some(&order_of(i)), expires_at, clock.system_now()).await.expect("tracked");
        draws ^= draws << 13;
        draws ^= draws >> 7;
        draws ^= draws << 17;
        let outcome = [Outcome::Paid, Outcome::Cancelled, Outcome::Disabled, Outcome::Expired][(draws % 4) as usize];
        sessions.push((id, outcome, expires_at.unwrap_or(SystemTime::UNIX_EPOCH)));
    }
    // Some consumers who would let the session expire pay seconds before it does instead (in the
    // second phase); some sessions left WAITING get forged COMPLETED callbacks.
    let waiting: Vec<usize> = (0..SESSIONS).filter(|i| sessions[*i].1 == Outcome::Expired).collect();
    for i in waiting.iter().take(LATE) {
        sessions[*i].1 = Outcome::PaidLate;
    }
    let forged_for: Vec<usize> = waiting.iter().skip(LATE).take(FORGED).copied().collect();
    // Three paid sessions whose hand-off panics once, three whose hand-off hangs once.
    let paid: Vec<&String> = sessions.iter().filter(|s| s.1 == Outcome::Paid).map(|s| &s.0).collect();
    chaos_app.panic_once.lock().unwrap().extend(paid.iter().take(3).map(|id| (*id).clone()));
    chaos_app.hang_once.lock().unwrap().extend(paid.iter().skip(3).take(3).map(|id| (*id).clone()));
    // The consumers and the merchant act; replica 1 is killed a third of the way, back at two thirds.
    let mut changed_at: HashMap<String, SystemTime> = HashMap::new();
    let mut killed_at = None;
    for (i, (id, outcome, _)) in sessions.iter().enumerate() {
        if i % 100 == 50 {
            // Time passes while the consumers act; every live poller starts a round.
            clock.advance(&sandbox, 30);
            for replica in replicas.iter_mut().flatten() {
                let poller = replica.poller.clone();
                replica.round = Some(tokio::spawn(async move {
                    let _ = poller.round().await;
                }));
            }
        }
        if i == SESSIONS / 2 {
            // Replica 2 is cut off from PostgreSQL in the middle of its steps.
            let _ = partition.cut.send(true);
        }
        if i == 5 * SESSIONS / 6 {
            let _ = partition.cut.send(false);
        }
        if i == SESSIONS / 3 {
            // Killed in the middle of everything; the balancer notices later (its callbacks
            // meanwhile answer 502, and the service's retries land on the other replicas).
            replicas[1].take().expect("up").kill();
            killed_at = Some(i);
        }
        if i == SESSIONS / 3 + 100 {
            // The balancer takes the dead replica out once 60 more deliveries were attempted.
            let seen = sandbox.callback_attempts().len();
            let _ = tokio::time::timeout(Duration::from_secs(60), sandbox.wait_for_callback_attempts(seen + 60)).await;
            balancer.replicas.lock().unwrap()[1] = None;
        }
        if i == 2 * SESSIONS / 3 {
            let replica = Replica::start(1, &pg.url(), &client, &clock, &chaos_app).await;
            balancer.replicas.lock().unwrap()[1] = Some(replica.url.clone());
            replicas[1] = Some(replica);
        }
        match outcome {
            Outcome::Paid => drop(sandbox.set_status(id, SessionStatus::Completed)),
            Outcome::Cancelled => drop(sandbox.set_status(id, SessionStatus::Cancelled)),
            Outcome::Disabled => client.disable_session(id.as_str()).await.expect("disabled"),
            Outcome::Expired | Outcome::PaidLate => {}
        }
        changed_at.insert(id.clone(), clock.system_now());
    }
    // Forged callbacks, with the real secret (someone read it in a proxy's log): COMPLETED for
    // sessions that are WAITING, and for sessions never created.
    let forged_to = secret.append_to(&format!("{lb_url}/hpp/callback"));
    let mut forged = 0;
    for (n, i) in forged_for.iter().enumerate() {
        forged += usize::from(forge(&forged_to, &format!("forged-{n}"), &sessions[*i].0).await);
    }
    for n in 0..FORGED {
        let stranger = format!("never-created-{n}");
        forged += usize::from(forge(&forged_to, &format!("forged-stranger-{n}"), &stranger).await);
    }
    let changes = sessions.iter().filter(|s| !matches!(s.1, Outcome::Expired | Outcome::PaidLate)).count();
    // Wait until the sandbox has settled every callback (delivered, dropped, or given up).
    let settled = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            let attempts = sandbox.callback_attempts();
            let mut done: HashMap<&str, bool> = HashMap::new();
            for a in &attempts {
                let finished = a.delivered() || a.outcome == hpp_sandbox::DeliveryOutcome::Dropped || a.attempt >= 4;
                *done.entry(a.event_id.as_str()).or_default() |= finished;
            }
            if sandbox.callback_bodies().len() >= changes && done.values().filter(|d| **d).count() >= changes {
                return attempts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let Ok(attempts) = settled else {
        eprintln!("hpp-track: the sandbox did not settle its callbacks within 300 s");
        return ExitCode::FAILURE;
    };
    for replica in replicas.iter_mut().flatten() {
        if let Some(round) = replica.round.take() {
            let _ = round.await;
        }
    }
    let delivered_by_callback: i64 = app.query_one("SELECT count(*) FROM shipped", &[]).await.expect("count").get(0);

    // The pollers close the gap; two days pass, each poller running whenever something is due.
    // Ten seconds before the sessions expire, the late payers pay; their callbacks are held back
    // (a second, real time) while a minute passes, so that they arrive after expiry.
    let late: Vec<usize> = (0..SESSIONS).filter(|i| sessions[*i].1 == Outcome::PaidLate).collect();
    let late_at = late.iter().map(|i| sessions[*i].2).min().map(|e| e - Duration::from_secs(10));
    let mut late_paid = false;
    // The API rate-limits three reads (Retry-After 60 s): every replica's reads pause.
    sandbox.inject_faults((0..3).map(|_| Fault::Status { status: 429, retry_after: Some(60), error_code: None }));
    let mut rounds = 0u64;
    while setup.pending().await.expect("pending") > 0 {
        rounds += 1;
        if rounds > 5_000 {
            // About 1,200 are needed; reconcile what there is, which will say what went wrong.
            eprintln!("hpp-track: sessions still pending after {rounds} poller rounds");
            break;
        }
        let pollers: Vec<_> = replicas.iter().flatten().map(|r| r.poller.clone()).collect();
        let mut joins = Vec::new();
        for poller in pollers {
            joins.push(tokio::spawn(async move { poller.round().await }));
        }
        for join in joins {
            let _ = join.await;
        }
        let next: Option<SystemTime> =
            app.query_one("SELECT min(next_due_at) FROM hpp_tracked_session", &[]).await.expect("next due").get(0);
        let Some(next) = next else { break };
        let step = next.duration_since(clock.system_now()).unwrap_or_default().as_secs().clamp(1, 3600);
        if let Some(late_at) = late_at.filter(|at| !late_paid && clock.system_now() + Duration::from_secs(step) >= *at)
        {
            let to = late_at.duration_since(clock.system_now()).unwrap_or_default().as_secs();
            clock.advance(&sandbox, to as i64);
            let seen = sandbox.callback_attempts().len();
            sandbox.inject_callback_faults(late.iter().map(|_| CallbackFault::Delay(Duration::from_secs(1))));
            for i in &late {
                if sandbox.set_status(&sessions[*i].0, SessionStatus::Completed).is_none() {
                    eprintln!("hpp-track: the sandbox refused a late payment");
                }
                changed_at.insert(sessions[*i].0.clone(), clock.system_now());
            }
            clock.advance(&sandbox, 60);
            let arrived =
                tokio::time::timeout(Duration::from_secs(60), sandbox.wait_for_callback_attempts(seen + late.len()));
            if arrived.await.is_err() {
                eprintln!("hpp-track: the late payments' callbacks did not arrive");
            }
            late_paid = true;
            continue;
        }
        clock.advance(&sandbox, step as i64);
    }

    // Reconcile with the app's own table.
    let rows = app.query("SELECT session_id, status, at FROM shipped", &[]).await.expect("rows");
    let mut shipped: HashMap<String, Vec<(String, SystemTime)>> = HashMap::new();
    for row in rows {
        shipped.entry(row.get(0)).or_default().push((row.get(1), row.get(2)));
    }
    // Orders: the sessions of each, and which of them were paid.
    let mut orders: HashMap<String, Vec<usize>> = HashMap::new();
    for i in 0..SESSIONS {
        orders.entry(order_of(i)).or_default().push(i);
    }
    let paid_twice_orders: std::collections::HashSet<String> = orders
        .iter()
        .filter(|(_, of)| of.iter().filter(|i| sessions[**i].1.paid()).count() > 1)
        .map(|(key, _)| key.clone())
        .collect();
    // A final status whose callbacks were all lost is seen at the next read: at most the longest
    // interval between reads after it, plus a read's way (the poller's idle wait, the lease).
    let bound = policy().max_interval + Duration::from_secs(120);
    let mut failed = false;
    println!(
        "hpp-track --chaos {seed}: {SESSIONS} sessions, {REPLICAS} replicas (replica 1 killed after session {} and restarted, \
         replica 2 cut off from PostgreSQL from session {} to {}), \
         {} callback attempts ({} delivered, {} dropped, {} refused or failed), {delivered_by_callback} final statuses \
         handed off while callbacks arrived, then {rounds} poller rounds",
        killed_at.unwrap_or_default(),
        SESSIONS / 2,
        5 * SESSIONS / 6,
        attempts.len(),
        attempts.iter().filter(|a| a.delivered()).count(),
        attempts.iter().filter(|a| a.outcome == hpp_sandbox::DeliveryOutcome::Dropped).count(),
        attempts.iter().filter(|a| !a.delivered() && a.outcome != hpp_sandbox::DeliveryOutcome::Dropped).count(),
    );
    for outcome in [Outcome::Paid, Outcome::Cancelled, Outcome::Disabled, Outcome::Expired, Outcome::PaidLate] {
        let of: Vec<(usize, &(String, Outcome, SystemTime))> =
            sessions.iter().enumerate().filter(|(_, s)| s.1 == outcome).collect();
        let (mut once, mut lost, mut duplicated, mut wrong, mut early, mut late) = (0, 0, 0, 0, 0, 0);
        let mut slowest = Duration::ZERO;
        for (i, (id, _, expires_at)) in &of {
            let got = shipped.get(id).map_or(&[][..], Vec::as_slice);
            match got {
                [] => lost += 1,
                [(status, at)] => {
                    once += 1;
                    // The second paid session of an order is COMPLETED_TWICE (one of the two).
                    let twice = status == "COMPLETED_TWICE" && paid_twice_orders.contains(&order_of(*i));
                    if status != outcome.expected() && !twice {
                        wrong += 1;
                    }
                    let real = if outcome == Outcome::Expired { *expires_at } else { changed_at[id.as_str()] };
                    match at.duration_since(real) {
                        Err(_) => early += 1,
                        Ok(latency) => {
                            slowest = slowest.max(latency);
                            if latency > bound {
                                late += 1;
                            }
                        }
                    }
                }
                _ => duplicated += 1,
            }
        }
        let ok = lost == 0 && duplicated == 0 && wrong == 0 && early == 0 && late == 0 && once == of.len();
        failed |= !ok;
        println!(
            "{:<9} {:>5} sessions: {once} exactly once, {lost} lost, {duplicated} duplicated, {wrong} wrong status, \
             {early} early, {late} over the bound ({}s); slowest {}s after the real change  {}",
            outcome.label(),
            of.len(),
            bound.as_secs(),
            slowest.as_secs(),
            if ok { "OK" } else { "FAILED" },
        );
    }
    // Per order: shipped as paid once (COMPLETED or COMPLETED_AFTER_EXPIRED), a second payment
    // flagged (COMPLETED_TWICE), never shipped twice, never lost, never on a forged word.
    let plain_paid = |id: &str| {
        shipped
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(status, _)| status == "COMPLETED" || status == "COMPLETED_AFTER_EXPIRED")
            .count()
    };
    let (mut paid_once, mut flagged, mut shipped_twice, mut orders_lost) = (0, 0, 0, 0);
    for (key, of) in &orders {
        let paid = of.iter().filter(|i| sessions[**i].1.paid()).count();
        let plain: usize = of.iter().map(|i| plain_paid(&sessions[*i].0)).sum();
        let twice = of.iter().flat_map(|i| shipped.get(&sessions[*i].0)).flatten().any(|(s, _)| s == "COMPLETED_TWICE");
        match (paid, plain) {
            (0, 0) => {}
            (_, 0) => orders_lost += 1,
            (_, 1) => paid_once += 1,
            _ => shipped_twice += 1,
        }
        if twice && paid_twice_orders.contains(key) {
            flagged += 1;
        }
    }
    let on_forged: usize = forged_for.iter().map(|i| plain_paid(&sessions[*i].0)).sum();
    let strangers: i64 = app
        .query_one("SELECT count(*) FROM hpp_tracked_session WHERE session_id LIKE 'never-created-%'", &[])
        .await
        .expect("count")
        .get(0);
    let orders_ok = shipped_twice == 0
        && orders_lost == 0
        && on_forged == 0
        && strangers == 0
        && flagged == paid_twice_orders.len()
        && forged == 2 * FORGED;
    failed |= !orders_ok;
    println!(
        "ORDERS {} orders ({} with two sessions, {} of them both paid): {paid_once} paid once, {flagged} paid twice \
         (flagged), {shipped_twice} shipped twice, {orders_lost} lost, {on_forged} shipped on a forged callback \
         ({forged} forged callbacks answered 2xx, {strangers} sessions tracked from them)  {}",
        orders.len(),
        orders.values().filter(|of| of.len() > 1).count(),
        paid_twice_orders.len(),
        if orders_ok { "OK" } else { "FAILED" },
    );
    let (panics_left, hangs_left) =
        (chaos_app.panic_once.lock().unwrap().len(), chaos_app.hang_once.lock().unwrap().len());
    println!(
        "FAULTS 3 hand-offs panicked once ({} never reached), 3 hung once ({} never reached), 3 reads answered 429",
        panics_left, hangs_left
    );
    failed |= panics_left + hangs_left > 0;
    println!("wall time {:.1}s", started.elapsed().as_secs_f64());
    drop(replicas);
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Posts a COMPLETED callback for `session_id` to `url` (the secret in it); whether it was
/// answered 2xx.
async fn forge(url: &str, event_id: &str, session_id: &str) -> bool {
    use hpp_core::Transport;
    let body = serde_json::json!({"event_id": event_id, "session": {"session_id": session_id, "status": "COMPLETED"}});
    let mut request = http::Request::new(body.to_string().into_bytes());
    *request.method_mut() = http::Method::POST;
    let Ok(uri) = url.parse() else { return false };
    *request.uri_mut() = uri;
    request.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    HyperTransport::new().send(request).await.is_ok_and(|response| response.status().is_success())
}

/// `cargo xtask track --bench`: callbacks per second through the receiver on the PostgreSQL
/// store against a raw axum handler doing one `INSERT … ON CONFLICT DO NOTHING` per callback,
/// in one run on one server; and the reads a waiting session costs under the default schedule.
mod bench {
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant, SystemTime};

    use hpp_core::Transport;
    use hpp_core::callback::CallbackSecret;
    use hpp_core::tracking::{TrackedSession, TrackingPolicy};
    use hpp_core::{Session, SessionStatus};
    use hpp_hyper::HyperTransport;
    use hpp_postgres::PgStore;
    use hpp_postgres::testing::{TempPostgres, insert_sessions};
    use hpp_testing::store_kit::NoHandOff;
    use hpp_tests::tracking::serve;
    use hpp_tracker::CallbackReceiver;

    const SESSIONS: usize = 2000;
    const IN_FLIGHT: usize = 32;
    const SECRET: &str = "bench-secret-0123456789abcdef";

    /// Two events per session (IN_PROGRESS, then COMPLETED), `prefix` keeping rounds apart.
    fn bodies(prefix: &str) -> Vec<Vec<u8>> {
        let mut bodies = Vec::new();
        for status in ["IN_PROGRESS", "COMPLETED"] {
            for s in 0..SESSIONS {
                bodies.push(
                    format!(
                        r#"{{"event_id":"{prefix}-{s}-{status}","session":{{"session_id":"{prefix}-{s}","status":"{status}","updated_at":"2027-01-01T00:00:00Z"}}}}"#
                    )
                    .into_bytes(),
                );
            }
        }
        bodies
    }

    /// Posts every body to `url`, `IN_FLIGHT` at a time; callbacks per second.
    async fn load(url: &str, bodies: Vec<Vec<u8>>) -> f64 {
        let transport = HyperTransport::new();
        let bodies = Arc::new(bodies);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..IN_FLIGHT {
            let (transport, bodies, next, url) = (transport.clone(), bodies.clone(), next.clone(), url.to_owned());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    let mut request = http::Request::new(body.clone());
                    *request.method_mut() = http::Method::POST;
                    *request.uri_mut() = url.parse().expect("a URL");
                    let response = transport.send(request).await.expect("an answer");
                    assert!(response.status().is_success(), "{}", response.status());
                }
            }));
        }
        for worker in workers {
            worker.await.expect("a worker");
        }
        bodies.len() as f64 / started.elapsed().as_secs_f64()
    }

    /// The receiver on the PostgreSQL store and the raw handler, on one server.
    struct Receivers {
        store: Arc<PgStore>,
        /// The receiver's router (callbacks at `/cb`, the secret in the query).
        sdk: axum::Router,
        /// The raw handler's router: parse, one `INSERT … ON CONFLICT DO NOTHING`.
        raw: axum::Router,
        /// The receiver on a store that applies each callback at once (the step in the answer:
        /// `TrackingPolicy::apply_callbacks_at_once`, how every callback was taken before).
        at_once: axum::Router,
        /// A connection for set-up (tracking sessions as an app does).
        setup: tokio_postgres::Client,
        secret: CallbackSecret,
    }

    async fn receivers(pg: &TempPostgres) -> Receivers {
        let store = Arc::new(PgStore::connect(&pg.url(), TrackingPolicy::default()).await.expect("the store"));
        store.migrate().await.expect("the schema");
        let secret = CallbackSecret::new(SECRET).expect("a secret");
        let receiver =
            CallbackReceiver::new(store.clone(), Arc::new(NoHandOff), secret.clone(), hpp_runtime::TokioTimer::new());
        let sdk = receiver.router("/cb");
        let mut at_once = TrackingPolicy::default();
        at_once.apply_callbacks_at_once = true;
        let at_once = Arc::new(PgStore::connect(&pg.url(), at_once).await.expect("the store"));
        let at_once =
            CallbackReceiver::new(at_once, Arc::new(NoHandOff), secret.clone(), hpp_runtime::TokioTimer::new())
                .router("/cb");

        // The raw handler: parse, one INSERT … ON CONFLICT DO NOTHING, on as many connections.
        let mut clients = Vec::new();
        for _ in 0..8 {
            let (client, connection) =
                tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.expect("a connection");
            tokio::spawn(connection);
            clients.push(client);
        }
        clients[0]
            .batch_execute("CREATE TABLE raw_event (event_id text PRIMARY KEY, session_id text NOT NULL, status text)")
            .await
            .expect("the raw table");
        let (setup, connection) =
            tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.expect("a connection");
        tokio::spawn(connection);
        // Prepared once per connection, as the store's statements are (a statement given as
        // text would be prepared again on every call: a round trip more).
        let mut prepared = Vec::new();
        for client in clients {
            let insert = client
                .prepare(
                    "INSERT INTO raw_event (event_id, session_id, status) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .await
                .expect("prepared");
            prepared.push((client, insert));
        }
        let clients = Arc::new(prepared);
        let turn = Arc::new(AtomicUsize::new(0));
        let raw = axum::Router::new().route(
            "/cb",
            axum::routing::post(move |body: axum::body::Bytes| {
                let (clients, turn) = (clients.clone(), turn.clone());
                async move {
                    let Ok(callback) = hpp_core::callback::StatusCallback::parse(&body) else {
                        return http::StatusCode::BAD_REQUEST;
                    };
                    let (client, insert) = &clients[turn.fetch_add(1, Ordering::Relaxed) % clients.len()];
                    let status = callback.session.status.as_ref().map(|s| s.as_str().to_owned());
                    let inserted =
                        client.execute(insert, &[&callback.event_id, &callback.session.session_id, &status]).await;
                    if inserted.is_ok() { http::StatusCode::OK } else { http::StatusCode::SERVICE_UNAVAILABLE }
                }
            }),
        );
        Receivers { store, sdk, raw, at_once, setup, secret }
    }

    /// `hpp-track --instructions sdk|raw IN_FLIGHT CALLBACKS` (for `cargo xtask instructions`,
    /// under callgrind): `TRACKED` sessions tracked, then CALLBACKS / 2 of them get their two
    /// callbacks (IN_PROGRESS, COMPLETED), IN_FLIGHT at a time (one: in turn; more: each group
    /// on tasks of its own, awaited together), straight into the router (no HTTP): the
    /// difference between two CALLBACKS is the instructions of the callbacks alone, in this
    /// process (PostgreSQL's are its own).
    pub(super) async fn instructions(kind: &str, in_flight: usize, callbacks: usize) -> ExitCode {
        let sessions = callbacks / 2;
        use tower_service::Service;
        const TRACKED: usize = 1_000;
        let Some(pg) = TempPostgres::start_or_skip() else { return ExitCode::FAILURE };
        let Receivers { store, sdk, raw, setup, secret, .. } = receivers(&pg).await;
        for s in 0..TRACKED {
            store.track_in(&setup, &format!("i-{s}"), None, None, SystemTime::now()).await.expect("tracked");
        }
        let (mut router, uri) = match kind {
            "sdk" => (sdk, secret.append_to("http://localhost/cb")),
            "raw" => (raw, "http://localhost/cb".to_owned()),
            _ => {
                eprintln!("hpp-track --instructions: sdk or raw");
                return ExitCode::from(2);
            }
        };
        let bodies = bodies("i");
        let picked = bodies.iter().enumerate().filter(|(i, _)| i % SESSIONS < sessions.min(TRACKED).min(SESSIONS));
        let requests: Vec<_> = picked
            .map(|(_, body)| {
                http::Request::post(&uri)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(axum::body::Body::from(body.clone()))
                    .expect("a request")
            })
            .collect();
        let sent = requests.len();
        let answered = |response: http::Response<axum::body::Body>| {
            assert!(response.status().is_success(), "{}", response.status());
        };
        if in_flight <= 1 {
            for request in requests {
                answered(router.call(request).await.expect("an answer"));
            }
        } else {
            let mut requests = requests.into_iter().peekable();
            while requests.peek().is_some() {
                let mut group = tokio::task::JoinSet::new();
                for request in requests.by_ref().take(in_flight) {
                    let mut router = router.clone();
                    group.spawn(async move { router.call(request).await });
                }
                while let Some(response) = group.join_next().await {
                    answered(response.expect("a task").expect("an answer"));
                }
            }
        }
        println!("{kind}: {sent} callbacks");
        ExitCode::SUCCESS
    }

    pub(super) async fn run() -> ExitCode {
        let Some(pg) = TempPostgres::start_or_skip() else { return ExitCode::FAILURE };
        let Receivers { store, sdk, raw, at_once, setup, secret } = receivers(&pg).await;
        let sdk = serve(sdk).await;
        let raw = serve(raw).await;
        let at_once = serve(at_once).await;

        println!(
            "callbacks through the receiver on PostgreSQL vs a raw axum handler doing one INSERT … ON CONFLICT DO NOTHING"
        );
        println!(
            "({SESSIONS} sessions tracked beforehand, as at checkout, x 2 events: IN_PROGRESS, then COMPLETED handed to a \
             no-op app; {IN_FLIGHT} in flight; one throwaway PostgreSQL without fsync; all in one process)"
        );
        let mut ratios = Vec::new();
        for round in 0..3 {
            // As an app does at checkout, the sessions are tracked before their callbacks come.
            for s in 0..SESSIONS {
                for side in ["sdk", "once"] {
                    let id = format!("{side}{round}-{s}");
                    store.track_in(&setup, &id, None, None, SystemTime::now()).await.expect("tracked");
                }
            }
            let raw_rate = load(&format!("{raw}/cb"), bodies(&format!("raw{round}"))).await;
            let sdk_rate = load(&secret.append_to(&format!("{sdk}/cb")), bodies(&format!("sdk{round}"))).await;
            let once_rate = load(&secret.append_to(&format!("{at_once}/cb")), bodies(&format!("once{round}"))).await;
            let ratio = raw_rate / sdk_rate;
            ratios.push(ratio);
            println!(
                "round {round}: raw {raw_rate:>8.0}/s   receiver + store {sdk_rate:>8.0}/s   time ratio {ratio:.2}x   \
                 (applied at once: {once_rate:>6.0}/s, {:.2}x)",
                raw_rate / once_rate
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!("median time ratio {:.2}x (target 1.25x)", ratios[1]);

        // Reads a session costs while it waits, under the default schedule.
        let policy = TrackingPolicy::default();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut tracked = TrackedSession::new("s", None, start, &policy);
        let mut waiting = Session::default();
        waiting.status = Some(SessionStatus::Waiting);
        let mut per_hour = [0u32; 48];
        while let Some(due) = tracked.next_due_at() {
            let hour = due.duration_since(start).unwrap_or_default().as_secs() / 3600;
            let Some(slot) = per_hour.get_mut(hour as usize) else { break };
            *slot += 1;
            if tracked.observe(&waiting, due, &policy).is_some() {
                break;
            }
        }
        println!(
            "lost callbacks: a payment whose every callback was lost is seen within {} s (the longest interval between \
             reads and a read's way: the chaos run's bound)",
            (policy.max_interval + Duration::from_secs(120)).as_secs()
        );
        println!(
            "reads per waiting session (default schedule, 30 s doubling to {} h, around expiry and after its grace): \
             {} in its first hour, {} in hours 2-46, {} in its last; {} over its 47 hours",
            policy.max_interval.as_secs() / 3600,
            per_hour[0],
            per_hour[1..46].iter().sum::<u32>(),
            per_hour[46] + per_hour[47],
            per_hour.iter().sum::<u32>()
        );
        claims_at_scale(&store, &pg.url(), &setup).await;
        ExitCode::SUCCESS
    }

    /// Claims and counts at 1,000,000 pending sessions, 20,000 of them claimed by a replica that
    /// died (its leases not over): the median of 21 claims (each up to 100 sessions, under the
    /// default read budget) and of 5 counts.
    async fn claims_at_scale(store: &PgStore, url: &str, client: &tokio_postgres::Client) {
        use hpp_core::tracking::TrackingStore;
        const PENDING: i64 = 1_000_000;
        const DEAD: i64 = 20_000;
        const DUE: i64 = 2_100;
        let policy = TrackingPolicy::default();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let quiet = TrackedSession::new("template", None, start, &policy);
        let later = start + Duration::from_secs(7 * 3600);
        let filled = Instant::now();
        let rows = [
            ("later-", PENDING - DEAD - DUE, later),
            ("dead-", DEAD, start),
            ("due-", DUE, start + Duration::from_secs(60)),
        ];
        for (prefix, count, due_at) in rows {
            insert_sessions(client, prefix, count, &quiet, due_at).await.expect("sessions written");
        }
        let now = start + Duration::from_secs(3600);
        // The dead replica claims its 20,000 first (without a budget), then is gone.
        let mut unbudgeted = TrackingPolicy::default();
        unbudgeted.max_reads_per_second = None;
        let unbudgeted = PgStore::connect(url, unbudgeted).await.expect("a store");
        let dead =
            unbudgeted.claim_due("gone", DEAD as usize, Duration::from_secs(3600), start).await.expect("claimed");
        assert_eq!(dead.len(), DEAD as usize);
        // As a running poller and autovacuum leave them: the counts' changes folded (the
        // gauges do it every 15 s), the versions claims replaced gone.
        store.counts(now).await.expect("counted");
        client.batch_execute("VACUUM ANALYZE hpp_tracked_session, hpp_session_count_change").await.expect("vacuumed");
        println!(
            "claims at {PENDING} pending ({DEAD} claimed by a replica that died, {DUE} due; written and vacuumed in {:.0} s):",
            filled.elapsed().as_secs_f64()
        );
        let mut claims = Vec::new();
        let mut claimed = 0;
        for i in 0..21 {
            // A second apart: the read budget (20 a second) refilled for each.
            let at = now + Duration::from_secs(i);
            let started = Instant::now();
            claimed += store.claim_due("bench", 100, Duration::from_secs(60), at).await.expect("claimed").len();
            claims.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let mut counts = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let counted = store.counts(now).await.expect("counted");
            assert_eq!(counted.waiting, PENDING as u64 + 2 * 3 * SESSIONS as u64, "{counted:?}");
            counts.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        claims.sort_by(f64::total_cmp);
        counts.sort_by(f64::total_cmp);
        println!(
            "claim time at 1,000,000 pending: median {:.1} ms (slowest {:.1} ms, {claimed} claimed in 21 claims); \
             counts: median {:.1} ms",
            claims[10], claims[20], counts[2]
        );
    }
}
