//! A bounded queue with a bounded number of jobs running at once: what after-the-fact hooks
//! go through, so a burst of events never blocks a transfer (a full queue refuses at once)
//! and never starts unbounded work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

/// The sending side; the dispatcher task owns the rest.
pub(super) struct Queue<T> {
    sender: mpsc::Sender<T>,
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Queue")
            .field("room", &self.sender.capacity())
            .finish()
    }
}

/// The longest wait between two attempts of a hook.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl<T: Send + 'static> Queue<T> {
    /// Starts the dispatcher on the current runtime (without one, every push is refused): at most `capacity` jobs wait, at most
    /// `max_running` run at once, each as `run(job)`; `run` returning `None` (its owner is
    /// gone) stops the dispatcher.
    pub(super) fn start<F, Job>(capacity: usize, max_running: usize, run: F) -> Queue<T>
    where
        F: Fn(T) -> Option<Job> + Send + 'static,
        Job: Future<Output = ()> + Send + 'static,
    {
        let (sender, mut receiver) = mpsc::channel::<T>(capacity.max(1));
        let running = Arc::new(Semaphore::new(max_running.max(1)));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Only a test fixture builds hooks off the runtime; the queue then refuses all.
            drop(receiver);
            return Queue { sender };
        };
        runtime.spawn(async move {
            while let Some(item) = receiver.recv().await {
                let Ok(permit) = running.clone().acquire_owned().await else {
                    break;
                };
                let Some(job) = run(item) else {
                    break;
                };
                tokio::spawn(async move {
                    job.await;
                    drop(permit);
                });
            }
        });
        Queue { sender }
    }

    /// Queues `item`, or gives it back when the queue is full.
    pub(super) fn push(&self, item: T) -> Result<(), Box<T>> {
        self.sender.try_send(item).map_err(|error| match error {
            mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item) => {
                Box::new(item)
            }
        })
    }
}

/// The wait before attempt `attempt` + 1: 1 s, 2 s, 4 s, … up to a minute.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1_u64 << attempt.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_at_most_max_running_run() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let queue = Queue::start(2, 1, {
            let (running, most, gate) = (running.clone(), most.clone(), gate.clone());
            move |_: u32| {
                let (running, most, gate) = (running.clone(), most.clone(), gate.clone());
                Some(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    gate.notified().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            }
        });
        assert!(queue.push(1).is_ok());
        // The first is taken off the queue and runs; two more fill it; the next is refused.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(queue.push(2).is_ok());
        assert!(queue.push(3).is_ok());
        assert_eq!(queue.push(4).map_err(|item| *item), Err(4));
        for _ in 0..3 {
            gate.notify_one();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
