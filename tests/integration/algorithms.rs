//! SLIDING, GCRA and LOG on a real server, and what all algorithms share: PEEK, and
//! denied calls that leave value and expiry untouched.

use std::thread::sleep;
use std::time::Duration;

use crate::server::{Server, Start};
use crate::util::*;

const ALGORITHMS: [&str; 4] = ["FIXED", "SLIDING", "GCRA", "LOG"];

fn ms(n: i64) -> Duration {
    Duration::from_millis(n.max(0) as u64)
}

#[test]
fn sliding_still_denies_just_after_the_first_window_then_allows() {
    let s = Server::start();
    let mut c = s.client();
    let line = "RATELIMIT.CHECK sl 4 400 MS ALGORITHM SLIDING";
    for i in 0..4 {
        assert_eq!(five(&mut c, line)[..3], [1, 4, 3 - i]);
    }
    assert_eq!(five(&mut c, line)[0], 0);
    // Just past the end of the first window (by FIXED's rule, a new window).
    let fixed_reset = five(&mut c, "RATELIMIT.PEEK sl 4 400 MS ALGORITHM SLIDING")[4] - 400;
    sleep(ms(fixed_reset + 10));
    let r = five(&mut c, line);
    assert_eq!(
        r[0], 0,
        "the previous window still weighs on the count: {r:?}"
    );
    assert!(r[3] > 0);
    // Once the old window has slid out, requests pass again.
    sleep(ms(r[3] + 10));
    assert_eq!(five(&mut c, line)[0], 1);
}

#[test]
fn gcra_bursts_then_refills_one_token_per_interval() {
    let s = Server::start();
    let mut c = s.client();
    let line = "RATELIMIT.CHECK g 10 1000 MS ALGORITHM GCRA";
    for i in 0..10 {
        assert_eq!(five(&mut c, line)[..3], [1, 10, 9 - i], "request {i}");
    }
    let denied = five(&mut c, line);
    assert_eq!(denied[..3], [0, 10, 0]);
    assert!(
        denied[3] > 0 && denied[3] <= 100,
        "retry after about one interval: {denied:?}"
    );
    sleep(ms(denied[3] + 5));
    assert_eq!(five(&mut c, line)[..3], [1, 10, 0], "one token came back");
    assert_eq!(five(&mut c, line)[0], 0);

    let burst = "RATELIMIT.CHECK g2 10 1000 MS ALGORITHM GCRA BURST 2";
    assert_eq!(five(&mut c, burst)[..3], [1, 2, 1]);
    assert_eq!(five(&mut c, burst)[..3], [1, 2, 0]);
    assert_eq!(five(&mut c, burst)[0], 0);
}

#[test]
fn gcra_is_exact_far_above_a_thousand_per_second() {
    let s = Server::start();
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for _ in 0..200 {
        pipe.cmd("RATELIMIT.CHECK")
            .arg("fast")
            .arg(100_000)
            .arg(1)
            .arg("ALGORITHM")
            .arg("GCRA")
            .arg("BURST")
            .arg(10);
    }
    let replies: Vec<Vec<i64>> = pipe.query(&mut c).unwrap();
    let allowed = replies.iter().filter(|r| r[0] == 1).count();
    // The burst, plus one per 10 µs the pipeline took: neither unlimited nor 1000/s.
    assert!(allowed > 10 && allowed < 200, "{allowed} of 200 allowed");
}

#[test]
fn log_frees_exactly_the_oldest_slot() {
    let s = Server::start();
    let mut c = s.client();
    let line = "RATELIMIT.CHECK lg 3 500 MS ALGORITHM LOG";
    assert_eq!(five(&mut c, line)[..3], [1, 3, 2]);
    sleep(ms(200));
    assert_eq!(five(&mut c, &format!("{line} COST 2"))[..3], [1, 3, 0]);
    let denied = five(&mut c, line);
    assert_eq!(denied[0], 0);
    // The slot taken first frees one window after it was taken.
    assert!(denied[3] > 0 && denied[3] <= 300, "{denied:?}");
    sleep(ms(denied[3] + 5));
    assert_eq!(five(&mut c, line)[..3], [1, 3, 0], "exactly one slot freed");
    let next = five(&mut c, line);
    assert_eq!(next[0], 0);
    // The next oldest entries were taken 200 ms after the first.
    assert!(next[3] > 100 && next[3] <= 200, "{next:?}");
}

#[test]
fn peek_gives_the_same_view_for_every_algorithm_and_never_writes() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ALGORITHMS {
        let key = format!("pk:{alg}");
        let check = format!("RATELIMIT.CHECK {key} 3 60 ALGORITHM {alg}");
        let peek = format!("RATELIMIT.PEEK {key} 3 60 ALGORITHM {alg}");
        assert_eq!(
            five(&mut c, &peek),
            [1, 3, 3, 0, 0],
            "{alg} before any request"
        );
        assert_eq!(
            redis::cmd("EXISTS").arg(&key).query::<i64>(&mut c).unwrap(),
            0
        );
        for _ in 0..3 {
            five(&mut c, &check);
        }
        let before = snapshot(&mut c, key.as_bytes());
        let dirty_before = dirty(&mut c);
        let started = std::time::Instant::now();
        let viewed = five(&mut c, &peek);
        let checked = five(&mut c, &check);
        let between = started.elapsed().as_millis() as i64;
        assert_eq!(viewed[..3], [0, 3, 0], "{alg}");
        assert_eq!(
            viewed[..3],
            checked[..3],
            "{alg}: PEEK and a denied CHECK agree"
        );
        // The retry time only shrinks by the time that passed between the two calls
        // (plus one for rounding to whole milliseconds), however slow the server runs.
        assert!(
            (0..=between + 1).contains(&(viewed[3] - checked[3])),
            "{alg}: {viewed:?} {checked:?}, {between} ms apart"
        );
        // Neither the PEEK nor the denied CHECK changed anything.
        assert_eq!(snapshot(&mut c, key.as_bytes()), before, "{alg}");
        assert_eq!(dirty(&mut c), dirty_before, "{alg}");
    }
}

#[test]
fn denied_calls_leave_value_and_expiry_untouched_for_every_algorithm() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ALGORITHMS {
        let key = format!("dn:{alg}");
        let line = format!("RATELIMIT.CHECK {key} 2 60 ALGORITHM {alg}");
        five(&mut c, &line);
        five(&mut c, &line);
        let before = snapshot(&mut c, key.as_bytes());
        assert!(before.at > 0, "{alg} key has an absolute expiry");
        sleep(ms(5));
        for cost in [1, 2, 3] {
            let r = five(&mut c, &format!("{line} COST {cost}"));
            assert_eq!(r[0], 0, "{alg}");
            assert_eq!(r[3] == -1, cost > 2, "{alg} cost {cost}: {r:?}");
        }
        assert_eq!(snapshot(&mut c, key.as_bytes()), before, "{alg}");
    }
}

#[test]
fn a_key_keeps_its_algorithm_and_another_gets_wrongtype() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ALGORITHMS {
        let key = format!("sw:{alg}");
        five(
            &mut c,
            &format!("RATELIMIT.CHECK {key} 5 60 ALGORITHM {alg}"),
        );
        let before = snapshot(&mut c, key.as_bytes());
        for other in ALGORITHMS.iter().filter(|&&o| o != alg) {
            let e = error(
                &mut c,
                &format!("RATELIMIT.CHECK {key} 5 60 ALGORITHM {other}"),
            );
            assert!(
                e.starts_with("WRONGTYPE") && e.contains(alg),
                "{alg} as {other}: {e}"
            );
            let e = error(
                &mut c,
                &format!("RATELIMIT.PEEK {key} 5 60 ALGORITHM {other}"),
            );
            assert!(e.starts_with("WRONGTYPE"), "{e}");
        }
        assert_eq!(snapshot(&mut c, key.as_bytes()), before, "{alg} untouched");
        // Changing limit and window on the same algorithm is fine and immediate.
        let r = five(
            &mut c,
            &format!("RATELIMIT.CHECK {key} 1 30 ALGORITHM {alg}"),
        );
        assert_eq!(r[..3], [0, 1, 0], "{alg}: the lower limit applies at once");
    }
}
