//! Many callers' small writes sent as one statement, without waiting for company: a
//! [`Batcher`].
//!
//! Group commit as databases do it for their own log: while fewer than `in_flight` batches
//! run, a caller's item goes at once (a batch of one, run by its caller when nothing waits: no
//! added latency or task when the load is low);
//! when that many run, items wait, and the next batch to go takes every waiting item (up to
//! `max_batch`). Under load, the cost of a statement (its round trip, its parse and plan, its
//! transaction) is shared by the items of a batch; each caller still gets its own answer.
//!
//! A batch runs on a task of its own: a caller that stops waiting (a deadline, a dropped
//! request) does not stop the batch its item is in, nor strand the items behind it; an item
//! whose caller stopped waiting before its batch was taken is not sent. A batch
//! that fails is sent again item by item, so that one item the statement cannot take (a value
//! the database refuses) fails alone: items must be safe to send twice (idempotent writes).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use std::sync::Arc;
//! use hpp_runtime::batch::{BatchError, Batcher};
//! // Doubles each number; a real batch would be one statement for all of them.
//! let batcher = Batcher::new(2, 64, Duration::from_secs(5), |items: Arc<Vec<u32>>| async move {
//!     if items.contains(&0) {
//!         return Err("zero");
//!     }
//!     Ok(items.iter().map(|n| n * 2).collect::<Vec<_>>())
//! });
//! assert_eq!(batcher.submit(21).await, Ok(42));
//! assert_eq!(batcher.submit(0).await, Err(BatchError::Failed("zero")));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hpp_core::tracking::StoreError;
use tokio::sync::oneshot;

use crate::caught;

type Run<I, O, E> = dyn Fn(Arc<Vec<I>>) -> Pin<Box<dyn Future<Output = Result<Vec<O>, E>> + Send>> + Send + Sync;
type Answer<O, E> = oneshot::Sender<Result<O, BatchError<E>>>;

/// Sends items in batches (see the [module](self)): cheap to clone, all clones share one queue.
pub struct Batcher<I, O, E> {
    shared: Arc<Shared<I, O, E>>,
}

impl<I, O, E> Clone for Batcher<I, O, E> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<I, O, E> fmt::Debug for Batcher<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Batcher")
            .field("in_flight", &self.shared.in_flight)
            .field("max_batch", &self.shared.max_batch)
            .field("running", &queue.running)
            .field("waiting", &queue.waiting.len())
            .finish()
    }
}

struct Shared<I, O, E> {
    queue: Mutex<Queue<I, O, E>>,
    run: Box<Run<I, O, E>>,
    in_flight: usize,
    max_batch: usize,
    timeout: Duration,
}

struct Queue<I, O, E> {
    waiting: Vec<(I, Answer<O, E>)>,
    /// Batches running (tasks draining the queue), at most `in_flight`.
    running: usize,
}

/// Why an item has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError<E> {
    /// The item, sent alone, failed with this error (a batch that fails is sent again item by
    /// item).
    Failed(E),
    /// Its batch ended without an answer: `run` panicked, ran past the timeout, or answered
    /// fewer items than it was given. Whether the item took effect is unknown.
    Lost,
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => e.fmt(f),
            Self::Lost => f.write_str("the batch ended without an answer (the write may or may not have taken effect)"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for BatchError<E> {}

/// A tracking store's batched write ([`TrackingStore::receive`](hpp_core::tracking::TrackingStore::receive)):
/// its own error, or a lost batch as a backend failure.
impl From<BatchError<Self>> for StoreError {
    fn from(e: BatchError<Self>) -> Self {
        match e {
            BatchError::Failed(e) => e,
            BatchError::Lost => Self::Backend(BatchError::<Self>::Lost.to_string().into()),
        }
    }
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// A batcher that runs at most `in_flight` batches at once (at least 1), each of at most
    /// `max_batch` items (at least 1), each run for at most `timeout` (then dropped: its items
    /// are [`BatchError::Lost`]). `run` answers a batch's items in their order, one output
    /// each, or fails the batch; it should not keep its `Arc` past its future (a failed batch's
    /// items are taken back from it to be sent alone; if they cannot be, they are lost).
    pub fn new<F, Fut>(in_flight: usize, max_batch: usize, timeout: Duration, run: F) -> Self
    where
        F: Fn(Arc<Vec<I>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        let run: Box<Run<I, O, E>> = Box::new(move |items| Box::pin(run(items)));
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue { waiting: Vec::new(), running: 0 }),
                run,
                in_flight: in_flight.max(1),
                max_batch: max_batch.max(1),
                timeout,
            }),
        }
    }

    /// Sends `item` with the next batch and waits for its answer. Must be called on a Tokio
    /// runtime (batches run on tasks of their own).
    pub async fn submit(&self, item: I) -> Result<O, BatchError<E>> {
        let shared = &self.shared;
        let turn = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let room = queue.running < shared.in_flight;
            if room {
                queue.running += 1;
            }
            if room && queue.waiting.is_empty() {
                Turn::Now(item)
            } else {
                let (answer, answered) = oneshot::channel();
                queue.waiting.push((item, answer));
                Turn::Queued { answered, start: room }
            }
        };
        match turn {
            // Nothing waits and a batch may start: this item's batch of one runs here, without
            // a task of its own (what an idle store's callback costs). Only this caller waits
            // for it, so its deadline may end it; the guard hands on what queued meanwhile.
            Turn::Now(item) => {
                let _running = Inline(shared);
                run_alone(shared, item).await
            }
            Turn::Queued { answered, start } => {
                if start {
                    tokio::spawn(drain(shared.clone()));
                }
                answered.await.unwrap_or(Err(BatchError::Lost))
            }
        }
    }
}

/// How a submitted item goes: in its caller's own batch of one, or queued for the next batch
/// (`start`: the caller starts a task to run it).
enum Turn<I, O, E> {
    Now(I),
    Queued { answered: oneshot::Receiver<Result<O, BatchError<E>>>, start: bool },
}

/// A batch of one running in its caller ([`Batcher::submit`]): when it ends (or its caller stops
/// waiting), the items that queued meanwhile get a task to run them.
struct Inline<'a, I, O, E>(&'a Arc<Shared<I, O, E>>)
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static;

impl<I, O, E> Drop for Inline<'_, I, O, E>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn drop(&mut self) {
        // What queued meanwhile: this slot goes on as a task draining the queue (outside a
        // runtime, nothing can run them: the runtime is gone, and its tasks with it).
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
        match runtime {
            Some(runtime) if !queue.waiting.is_empty() => {
                drop(queue);
                runtime.spawn(drain(self.0.clone()));
            }
            _ => queue.running -= 1,
        }
    }
}

/// Runs batches until the queue is empty; the count of running batches goes down under the
/// same lock that saw it empty, so an item pushed after that starts a batch of its own.
async fn drain<I, O, E>(shared: Arc<Shared<I, O, E>>)
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    loop {
        let batch: Vec<(I, Answer<O, E>)> = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.waiting.is_empty() {
                queue.running -= 1;
                return;
            }
            let take = queue.waiting.len().min(shared.max_batch);
            queue.waiting.drain(..take).collect()
        };
        // An item whose caller stopped waiting (its deadline passed while batches ran long: a
        // database cut off) is not sent: its caller answered without it.
        let batch: Vec<_> = batch.into_iter().filter(|(_, answer)| !answer.is_closed()).collect();
        if batch.is_empty() {
            continue;
        }
        let (items, answers): (Vec<I>, Vec<Answer<O, E>>) = batch.into_iter().unzip();
        let items = Arc::new(items);
        match run(&shared, items.clone()).await {
            Some(Ok(outputs)) => {
                for (answer, output) in answers.into_iter().zip(outputs) {
                    let _ = answer.send(Ok(output));
                }
            }
            Some(Err(e)) if answers.len() == 1 => {
                let _ = answers.into_iter().next().map(|answer| answer.send(Err(BatchError::Failed(e))));
            }
            // Failed: each item alone, so that one the statement cannot take fails alone.
            Some(Err(_)) => {
                let Ok(items) = Arc::try_unwrap(items) else { continue };
                for (item, answer) in items.into_iter().zip(answers) {
                    let _ = answer.send(run_alone(&shared, item).await);
                }
            }
            // A panic or a hang loses this batch's answers (their callers hear `Lost`), never
            // the queue: the loop goes on to the next batch.
            None => {}
        }
    }
}

/// `item` run as a batch of its own: its answer, or why it has none.
async fn run_alone<I, O, E>(shared: &Shared<I, O, E>, item: I) -> Result<O, BatchError<E>> {
    match run(shared, Arc::new(vec![item])).await {
        Some(Ok(outputs)) => outputs.into_iter().next().ok_or(BatchError::Lost),
        Some(Err(e)) => Err(BatchError::Failed(e)),
        None => Err(BatchError::Lost),
    }
}

/// One run of `items`, within the timeout, its panic caught: `None` when it gave no answer.
async fn run<I, O, E>(shared: &Shared<I, O, E>, items: Arc<Vec<I>>) -> Option<Result<Vec<O>, E>> {
    match tokio::time::timeout(shared.timeout, caught((shared.run)(items))).await {
        Ok(Ok(outcome)) => Some(outcome),
        Ok(Err(_)) | Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Semaphore;
    use tokio::task::{JoinHandle, yield_now};

    /// A batcher that doubles each number, one batch at a time, each batch taking a permit of
    /// `gate` first; 0 fails its batch, 7 panics, 9 hangs. It counts the batches and their largest size.
    struct Doubler {
        batcher: Batcher<u32, u32, String>,
        batches: Arc<AtomicUsize>,
        largest: Arc<AtomicUsize>,
        gate: Arc<Semaphore>,
    }

    impl Doubler {
        fn new(open: usize) -> Self {
            let (batches, largest) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let gate = Arc::new(Semaphore::new(open));
            let (b, l, g) = (batches.clone(), largest.clone(), gate.clone());
            let batcher = Batcher::new(1, 64, Duration::from_secs(5), move |items: Arc<Vec<u32>>| {
                let (batches, largest, gate) = (b.clone(), l.clone(), g.clone());
                async move {
                    gate.acquire().await.expect("the gate").forget();
                    batches.fetch_add(1, Ordering::SeqCst);
                    largest.fetch_max(items.len(), Ordering::SeqCst);
                    if items.contains(&7) {
                        panic!("seven");
                    }
                    if items.contains(&9) {
                        std::future::pending::<()>().await;
                    }
                    if items.contains(&0) {
                        return Err(format!("zero among {}", items.len()));
                    }
                    Ok(items.iter().map(|n| n * 2).collect())
                }
            });
            Self { batcher, batches, largest, gate }
        }

        /// Submits `n` from a task of its own, and lets it run until it waits.
        async fn submit(&self, n: u32) -> JoinHandle<Result<u32, BatchError<String>>> {
            let batcher = self.batcher.clone();
            let call = tokio::spawn(async move { batcher.submit(n).await });
            yield_now().await;
            call
        }

        /// (batches run, the largest).
        fn counted(&self) -> (usize, usize) {
            (self.batches.load(Ordering::SeqCst), self.largest.load(Ordering::SeqCst))
        }
    }

    async fn answer(call: JoinHandle<Result<u32, BatchError<String>>>) -> Result<u32, BatchError<String>> {
        call.await.expect("a call")
    }

    async fn abandon(call: JoinHandle<Result<u32, BatchError<String>>>) {
        call.abort();
        let _ = call.await;
    }

    #[tokio::test(start_paused = true)]
    async fn items_waiting_behind_a_running_batch_go_together_each_with_its_own_answer() {
        let doubler = Doubler::new(0);
        // The first item's batch waits at the gate; the next 20 queue behind it.
        let mut calls = Vec::new();
        for n in 10..=30u32 {
            calls.push((n, doubler.submit(n).await));
        }
        doubler.gate.add_permits(100);
        for (n, call) in calls {
            assert_eq!(answer(call).await, Ok(n * 2));
        }
        assert_eq!(doubler.counted(), (2, 20), "one batch of 1, then one of the 20 that waited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_batch_is_sent_again_item_by_item_so_one_bad_item_fails_alone() {
        let doubler = Doubler::new(0);
        let mut calls = Vec::new();
        for n in [1u32, 2, 0, 3] {
            calls.push((n, doubler.submit(n).await));
        }
        doubler.gate.add_permits(100);
        for (n, call) in calls {
            let expected = if n == 0 { Err(BatchError::Failed("zero among 1".to_owned())) } else { Ok(n * 2) };
            assert_eq!(answer(call).await, expected);
        }
        // 1 alone; then [2, 0, 3] failed and was sent again as three batches.
        assert_eq!(doubler.counted(), (5, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_or_a_hang_loses_its_batch_never_the_queue() {
        let doubler = Doubler::new(100);
        assert_eq!(doubler.batcher.submit(7).await, Err(BatchError::Lost));
        assert_eq!(doubler.batcher.submit(9).await, Err(BatchError::Lost), "past the timeout (paused time)");
        assert_eq!(doubler.batcher.submit(4).await, Ok(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_stops_waiting_never_stops_the_items_of_others() {
        let doubler = Doubler::new(0);
        // Alone, 5 runs in its caller; 6 and 8 queue behind it. Its caller stops waiting: its
        // batch of one ends with it, and the queued items get a task of their own.
        let alone = doubler.submit(5).await;
        let (six, eight) = (doubler.submit(6).await, doubler.submit(8).await);
        abandon(alone).await;
        doubler.gate.add_permits(100);
        assert_eq!((answer(six).await, answer(eight).await), (Ok(12), Ok(16)));
        assert_eq!(doubler.counted(), (1, 2), "[6, 8] together");
        // And a caller whose item went into a shared batch does not stop that batch.
        let doubler = Doubler::new(0);
        let first = doubler.submit(10).await;
        let (gone, kept) = (doubler.submit(11).await, doubler.submit(12).await);
        doubler.gate.add_permits(1); // 10's batch
        assert_eq!(answer(first).await, Ok(20));
        for _ in 0..3 {
            yield_now().await; // [11, 12] is taken, and waits at the gate
        }
        abandon(gone).await;
        doubler.gate.add_permits(100);
        assert_eq!(answer(kept).await, Ok(24));
        assert_eq!(doubler.counted(), (2, 2), "11 went with 12 although its caller left");
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_whose_caller_stopped_waiting_before_its_batch_was_taken_is_not_sent() {
        let doubler = Doubler::new(0);
        let first = doubler.submit(1).await;
        // Queued behind the first batch; its caller gives up before that batch ends.
        let (gone, kept) = (doubler.submit(2).await, doubler.submit(3).await);
        abandon(gone).await;
        doubler.gate.add_permits(100);
        assert_eq!((answer(first).await, answer(kept).await), (Ok(2), Ok(6)));
        assert_eq!(doubler.counted(), (2, 1), "[1], then [3] alone");
    }
}
