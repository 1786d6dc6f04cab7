//! At most a few log lines per second for denied requests: a flood of 429s must not
//! become a flood of log lines. What is held back is counted and reported with the
//! next line that gets through.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LogThrottle {
    per_second: u32,
    window: Mutex<Window>,
}

struct Window {
    started: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl LogThrottle {
    pub fn new(per_second: u32) -> LogThrottle {
        LogThrottle {
            per_second,
            window: Mutex::new(Window {
                started: None,
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were held back
    /// since the last one; `None` when this line must be dropped.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = w
            .started
            .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1));
        if fresh {
            w.started = Some(now);
            w.written = 0;
        }
        if w.written >= self.per_second {
            w.suppressed += 1;
            return None;
        }
        w.written += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_per_second_and_a_count_of_the_rest() {
        let t = LogThrottle::new(2);
        let now = Instant::now();
        let admitted: Vec<_> = (0..5).map(|_| t.admit(now)).collect();
        assert_eq!(admitted, [Some(0), Some(0), None, None, None]);
        assert_eq!(t.admit(now + Duration::from_secs(1)), Some(3));
        assert_eq!(t.admit(now + Duration::from_secs(1)), Some(0));
    }
}
