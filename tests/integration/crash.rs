//! The panic guard, proven with a module built with the `crash-test` feature, which
//! adds RATELIMIT.CRASHTEST, a command that panics on purpose. Ignored in the normal
//! run (the release module has no such command); `make test` runs it against the
//! crash-test build (`make crash-guard`), and `make sanitize` under valgrind.

use crate::server::{Server, Start};
use crate::util::*;

#[test]
#[ignore = "needs the module built with --features crash-test (make crash-guard)"]
fn a_panic_is_an_error_reply_and_the_server_keeps_serving() {
    let s = Server::start();
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK before 10 60");
    for _ in 0..3 {
        let e = error(&mut c, "RATELIMIT.CRASHTEST somekey");
        assert!(
            e.starts_with("ERR internal error in the ratelimit module"),
            "{e}"
        );
    }
    // Still serving, state intact, counters say what happened.
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(
        five(&mut c, "RATELIMIT.CHECK before 10 60")[..3],
        [1, 10, 8]
    );
    let errors: u64 = info_field(&mut c, "ratelimit", "ratelimit_peek_errors")
        .parse()
        .unwrap();
    assert_eq!(errors, 3);
}
