//! The host's CPU load, for adaptive limits. A trait so that tests can inject a
//! reading instead of loading the machine.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A reading of the host's load: the 1-minute load average per CPU (1.0 means every
/// CPU busy), or `None` when it cannot be read.
pub trait LoadSource: Send + Sync {
    fn load_per_cpu(&self) -> Option<f64>;
}

/// `/proc/loadavg` divided by the CPUs available to the process, read at most once a
/// second (requests read it far more often than it changes).
pub struct SystemLoad {
    cached: Mutex<Option<(Instant, Option<f64>)>>,
}

impl SystemLoad {
    pub fn new() -> SystemLoad {
        SystemLoad {
            cached: Mutex::new(None),
        }
    }
}

impl Default for SystemLoad {
    fn default() -> Self {
        SystemLoad::new()
    }
}

impl LoadSource for SystemLoad {
    fn load_per_cpu(&self) -> Option<f64> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, value)) = *cached {
            if at.elapsed() < Duration::from_secs(1) {
                return value;
            }
        }
        let value = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| parse_loadavg(&s))
            .map(|load| {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                load / cpus as f64
            });
        *cached = Some((Instant::now(), value));
        value
    }
}

/// The 1-minute average from `/proc/loadavg` ("0.52 0.58 0.59 1/123 4567").
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// A fixed reading, set by whoever holds it (tests).
pub struct FixedLoad(pub Mutex<Option<f64>>);

impl LoadSource for FixedLoad {
    fn load_per_cpu(&self) -> Option<f64> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_is_read_from_its_first_field() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/123 4567\n"), Some(0.52));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("x 1 2"), None);
    }

    #[test]
    fn the_system_reading_is_a_number_on_linux() {
        let load = SystemLoad::new().load_per_cpu();
        assert!(matches!(load, Some(l) if l >= 0.0), "{load:?}");
    }
}
