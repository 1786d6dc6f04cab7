//! redis-cell compatibility: `CL.THROTTLE` with the load argument `CELL-COMPAT yes`.

use crate::server::{module_path, Server, Start};
use crate::util::*;

#[test]
fn cl_throttle_exists_only_when_asked_for() {
    let plain = Server::start();
    let e = error(&mut plain.client(), "CL.THROTTLE k 4 1 60");
    assert!(e.contains("unknown command"), "{e}");
    let cell = Server::start_cell_compat(&[]);
    assert_eq!(five(&mut cell.client(), "CL.THROTTLE k 4 1 60")[0], 0);
}

#[test]
fn replies_as_redis_cell_does() {
    let (primary, replica) = {
        let p = Server::start_cell_compat(&[]);
        let r = Server::start_with(&["--replicaof", "127.0.0.1", &p.port.to_string()]);
        (p, r)
    };
    let mut c = primary.client();
    // max_burst 4 (so limit 5), 1 per minute: five pass, each pushing the reset time
    // a minute further; retry_after is -1 while allowed.
    for i in 1..=5 {
        assert_eq!(
            five(&mut c, "CL.THROTTLE user 4 1 60"),
            [0, 5, 5 - i, -1, 60 * i],
            "call {i}"
        );
    }
    // Limited: the flag is 1 and retry_after counts whole seconds, rounded up.
    assert_eq!(five(&mut c, "CL.THROTTLE user 4 1 60"), [1, 5, 0, 60, 300]);
    // A quantity above the limit can never pass: retry_after is -1.
    assert_eq!(
        five(&mut c, "CL.THROTTLE user 4 1 60 6"),
        [1, 5, 0, -1, 300]
    );
    // Quantity 0 looks without taking anything.
    assert_eq!(
        five(&mut c, "CL.THROTTLE user 4 1 60 0"),
        [0, 5, 0, -1, 300]
    );
    // The state is this module's GCRA state: RATELIMIT.PEEK reads the same bucket.
    let peek = five(&mut c, "RATELIMIT.PEEK user 1 60 ALGORITHM GCRA BURST 5");
    assert_eq!(peek[..3], [0, 5, 0]);

    // Replicas get the effect with an absolute expiry, not the command.
    let mut r = replica.client();
    wait_for_replica(&mut c, &mut r);
    let on_primary = snapshot(&mut c, b"user");
    assert!(on_primary.value.is_some());
    assert_eq!(snapshot(&mut r, b"user"), on_primary);
}

#[test]
fn survives_the_inputs_that_crash_redis_cell() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    put_foreign_values(&mut c);
    for key in ["text", "number", "list", "hash"] {
        let e = error(&mut c, &format!("CL.THROTTLE {key} 4 1 60"));
        assert!(e.starts_with("WRONGTYPE"), "{key}: {e}");
    }
    let text: String = redis::cmd("GET").arg("text").query(&mut c).unwrap();
    assert_eq!(text, "hello", "left untouched");

    let binary: &[u8] = b"\xff\xfe\x00user";
    let line: Vec<&[u8]> = vec![b"CL.THROTTLE", binary, b"4", b"1", b"60"];
    assert_eq!(five_args(&mut c, &line), [0, 5, 4, -1, 60]);
    assert_eq!(five_args(&mut c, &line)[..3], [0, 5, 3]);

    for (line, want) in [
        ("CL.THROTTLE k 4 1", "ERR wrong number of arguments"),
        ("CL.THROTTLE k 4 1 60 1 1", "ERR wrong number of arguments"),
        ("CL.THROTTLE k -1 1 60", "ERR max_burst"),
        ("CL.THROTTLE k 4 0 60", "ERR count per period"),
        ("CL.THROTTLE k 4 1 0", "ERR period"),
        ("CL.THROTTLE k 4 1 60 x", "ERR quantity"),
    ] {
        let e = error(&mut c, line);
        assert!(e.starts_with(want), "{line}: {e}");
    }
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn a_mistyped_load_argument_fails_the_load() {
    let s = Server::without_module();
    let mut c = s.client();
    let path = module_path().display().to_string();
    for args in [
        &["CELL-COMPAT", "maybe"][..],
        &["CELL_COMPAT", "yes"],
        &["CELL-COMPAT"],
        &["COMPACT-STATE", "on"],
    ] {
        let e = redis::cmd("MODULE")
            .arg("LOAD")
            .arg(&path)
            .arg(args)
            .query::<()>(&mut c)
            .unwrap_err();
        assert!(e.to_string().contains("Error loading"), "{args:?}: {e}");
    }
    redis::cmd("MODULE")
        .arg("LOAD")
        .arg(&path)
        .arg(&["cell-compat", "YES"])
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(five(&mut c, "CL.THROTTLE k 0 1 1")[..3], [0, 1, 0]);
}
