//! SLIDING, GCRA and LOG over time, on a clock the test sets: the module built with
//! `--features test-hooks` reads `RATELIMIT.TESTCLOCK`'s instant, so each step lands at
//! an exact instant whatever the machine's load, and the waits are asserted exactly.
//! `make crash-guard` runs these against that build, and `make sanitize` under valgrind.

use redis::{Connection, Value};

use crate::server::{Server, Start};
use crate::util::*;

const MS: u64 = 1_000_000;

/// The test's clock, started an hour ahead of the server's own time and only moved
/// forward: the expiries the module writes are absolute times on this clock, and the
/// server drops keys by its real one, which must never reach them during a test.
struct Clock {
    ns: u64,
}

impl Clock {
    fn start(c: &mut Connection) -> Clock {
        redis::cmd("RATELIMIT.TESTCLOCK")
            .query::<Value>(c)
            .expect("the module built with --features test-hooks (make crash-guard)");
        let (s, us): (u64, u64) = redis::cmd("TIME").query(c).unwrap();
        let clock = Clock {
            ns: (s + 3600) * 1_000_000_000 + us * 1000,
        };
        clock.set(c);
        clock
    }

    fn set(&self, c: &mut Connection) {
        redis::cmd("RATELIMIT.TESTCLOCK")
            .arg(self.ns)
            .query::<Value>(c)
            .unwrap();
    }

    fn advance(&mut self, c: &mut Connection, ns: u64) {
        self.ns += ns;
        self.set(c);
    }
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make crash-guard)"]
fn sliding_still_denies_just_after_the_first_window_then_allows() {
    let s = Server::start();
    let mut c = s.client();
    let mut clock = Clock::start(&mut c);
    let line = "RATELIMIT.CHECK sl 4 400 MS ALGORITHM SLIDING";
    for i in 0..4 {
        assert_eq!(five(&mut c, line)[..3], [1, 4, 3 - i]);
    }
    assert_eq!(five(&mut c, line)[0], 0);
    // Just past the end of the first window (by FIXED's rule, a new window).
    let fixed_reset = five(&mut c, "RATELIMIT.PEEK sl 4 400 MS ALGORITHM SLIDING")[4] - 400;
    assert_eq!(
        fixed_reset, 400,
        "the first window ends one window after it began"
    );
    clock.advance(&mut c, (fixed_reset as u64 + 10) * MS);
    let r = five(&mut c, line);
    assert_eq!(
        r[0], 0,
        "the previous window still weighs on the count: {r:?}"
    );
    assert!(r[3] > 0);
    // Once the old window has slid out, requests pass again: at the wait, rounded up
    // to the millisecond, and not a millisecond before.
    clock.advance(&mut c, (r[3] as u64 - 1) * MS);
    assert_eq!(five(&mut c, line)[0], 0, "{r:?}");
    clock.advance(&mut c, MS);
    assert_eq!(five(&mut c, line)[0], 1);
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make crash-guard)"]
fn gcra_bursts_then_refills_one_token_per_interval() {
    let s = Server::start();
    let mut c = s.client();
    let mut clock = Clock::start(&mut c);
    let line = "RATELIMIT.CHECK g 10 1000 MS ALGORITHM GCRA";
    for i in 0..10 {
        assert_eq!(five(&mut c, line)[..3], [1, 10, 9 - i], "request {i}");
    }
    let denied = five(&mut c, line);
    assert_eq!(denied[..3], [0, 10, 0]);
    assert_eq!(
        denied[3], 100,
        "retry after exactly one interval: {denied:?}"
    );
    clock.advance(&mut c, 100 * MS);
    assert_eq!(five(&mut c, line)[..3], [1, 10, 0], "one token came back");
    assert_eq!(five(&mut c, line)[0], 0);

    let burst = "RATELIMIT.CHECK g2 10 1000 MS ALGORITHM GCRA BURST 2";
    assert_eq!(five(&mut c, burst)[..3], [1, 2, 1]);
    assert_eq!(five(&mut c, burst)[..3], [1, 2, 0]);
    assert_eq!(five(&mut c, burst)[0], 0);
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make crash-guard)"]
fn gcra_is_exact_far_above_a_thousand_per_second() {
    let s = Server::start();
    let mut c = s.client();
    let mut clock = Clock::start(&mut c);
    // 100,000 per second: one token every 10 µs, a burst of 10.
    let allowed = |c: &mut Connection, n: usize| {
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("RATELIMIT.CHECK")
                .arg("fast")
                .arg(100_000)
                .arg(1)
                .arg("ALGORITHM")
                .arg("GCRA")
                .arg("BURST")
                .arg(10);
        }
        let replies: Vec<Vec<i64>> = pipe.query(c).unwrap();
        replies.iter().filter(|r| r[0] == 1).count()
    };
    assert_eq!(allowed(&mut c, 200), 10, "the burst, at one instant");
    clock.advance(&mut c, 50_000);
    assert_eq!(
        allowed(&mut c, 20),
        5,
        "one per 10 µs: neither unlimited nor 1000/s"
    );
    clock.advance(&mut c, 9_999);
    assert_eq!(allowed(&mut c, 5), 0, "not a nanosecond early");
    clock.advance(&mut c, 1);
    assert_eq!(allowed(&mut c, 5), 1);
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make crash-guard)"]
fn log_frees_exactly_the_oldest_slot() {
    let s = Server::start();
    let mut c = s.client();
    let mut clock = Clock::start(&mut c);
    let line = "RATELIMIT.CHECK lg 3 500 MS ALGORITHM LOG";
    assert_eq!(five(&mut c, line)[..3], [1, 3, 2]);
    clock.advance(&mut c, 200 * MS);
    assert_eq!(five(&mut c, &format!("{line} COST 2"))[..3], [1, 3, 0]);
    let denied = five(&mut c, line);
    assert_eq!(denied[0], 0);
    // The slot taken first frees one window after it was taken.
    assert_eq!(denied[3], 300, "{denied:?}");
    clock.advance(&mut c, 300 * MS);
    assert_eq!(five(&mut c, line)[..3], [1, 3, 0], "exactly one slot freed");
    let next = five(&mut c, line);
    assert_eq!(next[0], 0);
    // The next oldest entries were taken 200 ms after the first.
    assert_eq!(next[3], 200, "{next:?}");
}
