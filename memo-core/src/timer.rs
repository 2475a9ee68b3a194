//! Wake-ups at a given instant for futures that wait with a timeout, without a runtime: one
//! background thread, started on first use, sleeps until the earliest deadline and wakes its
//! waker. Only the async single-flight waiters use it, and only while they wait.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::Instant;

struct Entry {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

struct Timer {
    due: Mutex<BinaryHeap<Reverse<Entry>>>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            due: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("memo-timer".into())
            .spawn(move || timer.run());
        if let Err(error) = spawned {
            // Without the thread, waiters still end when their flight ends; only their timeout
            // is lost. Said once, where a person sees it.
            tracing::error!(%error, "memo: cannot start the timer thread; async waiters wait \
                for their leader without a timeout");
        }
        timer
    })
}

/// Wakes `waker` once `at` has come (or a little after). A waker whose task is gone by then
/// is woken for nothing, which is harmless.
pub(crate) fn wake_at(at: Instant, waker: Waker) {
    let timer = timer();
    let mut due = timer.lock();
    let earliest = due.peek().is_none_or(|Reverse(first)| at < first.at);
    due.push(Reverse(Entry { at, waker }));
    drop(due);
    if earliest {
        timer.changed.notify_one();
    }
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Entry>>> {
        // Pushes and pops leave the heap whole even if a waker panics (it runs unlocked).
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut due = self.lock();
        loop {
            let now = Instant::now();
            let mut ready = Vec::new();
            while due.peek().is_some_and(|Reverse(first)| first.at <= now) {
                if let Some(Reverse(entry)) = due.pop() {
                    ready.push(entry.waker);
                }
            }
            if !ready.is_empty() {
                drop(due);
                ready.into_iter().for_each(Waker::wake);
                due = self.lock();
                continue;
            }
            due = match due.peek().map(|Reverse(first)| first.at - now) {
                Some(left) => {
                    self.changed
                        .wait_timeout(due, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(due)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Send(Mutex<mpsc::Sender<Instant>>);

    impl Wake for Send {
        fn wake(self: Arc<Self>) {
            let _ = self.0.lock().unwrap().send(Instant::now());
        }
    }

    #[test]
    fn wakes_each_waker_at_or_after_its_instant_in_order() {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let later = start + Duration::from_millis(60);
        let sooner = start + Duration::from_millis(20);
        wake_at(later, Waker::from(Arc::new(Send(Mutex::new(tx.clone())))));
        wake_at(sooner, Waker::from(Arc::new(Send(Mutex::new(tx)))));
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(first >= sooner, "woken early");
        assert!(second >= later, "woken early");
        assert!(first <= second);
    }
}
