//! What all algorithms share on a real server: PEEK, denied calls that leave value and
//! expiry untouched, and a key's algorithm. (SLIDING, GCRA and LOG over time are in
//! `clock`, on a clock the test sets.)

use std::thread::sleep;
use std::time::Duration;

use crate::server::{Server, Start};
use crate::util::*;

const ALGORITHMS: [&str; 4] = ["FIXED", "SLIDING", "GCRA", "LOG"];

fn ms(n: i64) -> Duration {
    Duration::from_millis(n.max(0) as u64)
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
