//! The harness itself, against the server on the PATH (or `$REDIS_SERVER`): a server
//! answers on its port, restarts on the same port, and is gone once dropped.

use std::net::TcpStream;

use redis_test_harness::Server;

#[test]
fn a_server_answers_restarts_on_its_port_and_is_killed_on_drop() {
    let mut server = Server::builder().args(&["--maxmemory", "1mb"]).start();
    let port = server.port;
    let mut con = server.client();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query::<()>(&mut con)
        .unwrap();
    assert_eq!(
        server.info_field("memory", "maxmemory").as_deref(),
        Some("1048576")
    );
    assert_eq!(server.calls("set"), 1);
    assert!(server.dir().is_dir());
    server.restart();
    assert_eq!(server.port, port);
    let value: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut server.client())
        .unwrap();
    assert_eq!(value, None, "persistence is off: a restart starts empty");
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server is gone"
    );
}

#[test]
fn a_replica_follows_its_primary() {
    let primary = Server::builder().start();
    let replica = Server::builder().replica_of(&primary).start();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query::<()>(&mut primary.client())
        .unwrap();
    redis_test_harness::wait_until(
        "the write reaches the replica",
        std::time::Duration::from_secs(20),
        || {
            redis::cmd("GET")
                .arg("k")
                .query::<Option<String>>(&mut replica.client())
                .unwrap()
                .is_some()
        },
    );
    assert_eq!(
        replica.info_field("replication", "role").as_deref(),
        Some("slave")
    );
}
