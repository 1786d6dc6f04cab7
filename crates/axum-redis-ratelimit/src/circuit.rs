//! Whether Redis is being left alone after a failure: the state the failure modes
//! turn on, and the transitions that are logged and exported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a failed Redis call, requests skip Redis for `retry_after`, then it is
/// tried again. `active` is true from the first failure of an outage until the first
/// success after it.
pub struct Circuit {
    retry_after: Duration,
    down_until: Mutex<Option<Instant>>,
    active: AtomicBool,
}

impl Circuit {
    pub fn new(retry_after: Duration) -> Circuit {
        Circuit {
            retry_after,
            down_until: Mutex::new(None),
            active: AtomicBool::new(false),
        }
    }

    /// Whether Redis failed moments ago and is not to be asked yet.
    pub fn open(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| now < until)
    }

    /// A call that answered; true when it ends an outage.
    pub fn succeeded(&self) -> bool {
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.active.swap(false, Ordering::Relaxed)
    }

    /// A call that failed; true when it starts an outage.
    pub fn failed(&self, now: Instant) -> bool {
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(now + self.retry_after);
        !self.active.swap(true, Ordering::Relaxed)
    }

    /// Whether an outage is in progress.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_opens_for_the_retry_time_and_an_answer_ends_the_outage() {
        let c = Circuit::new(Duration::from_millis(500));
        let t = Instant::now();
        assert!(!c.open(t) && !c.active());
        assert!(c.failed(t), "the first failure starts an outage");
        assert!(!c.failed(t), "the second does not start another");
        assert!(c.open(t + Duration::from_millis(499)));
        assert!(
            !c.open(t + Duration::from_millis(500)),
            "tried again after the wait"
        );
        assert!(c.active());
        assert!(c.succeeded(), "the first answer ends it");
        assert!(!c.succeeded());
        assert!(!c.open(t) && !c.active());
    }
}
