//! The layer on a plain axum router, against a real redis-server with the module
//! (the harness's `module_path()`: `$RATELIMIT_MODULE`), driven with
//! `tower::ServiceExt::oneshot`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use axum_redis_ratelimit::{
    Config, Form, KeyExtractor, RateLimitError, RateLimitLayer, RateLimiter, Subject,
};
use redis_test_harness::{module_path, Server};
use tower::ServiceExt;

fn redis() -> Server {
    Server::builder().module(module_path(), &[]).start()
}

fn app(limiter: RateLimiter) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/free", get(|| async { "free" }))
        .route_layer(RateLimitLayer::new(Arc::new(limiter)))
}

async fn get_from(
    app: &Router,
    path: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap()
}

fn field(r: &axum::response::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_plain_router_is_limited_per_client_address() {
    let server = redis();
    let config = Config::default().limit_route("/hello", &[(3, 60)]);
    let app = app(RateLimiter::new(config, &server.url()).unwrap());
    for left in [2, 1, 0] {
        let r = get_from(&app, "/hello", "192.0.2.1:5000", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(field(&r, "ratelimit-policy"), "\"hello\";q=3;w=60");
        assert!(field(&r, "ratelimit").starts_with(&format!("\"hello\";r={left};t=")));
    }
    let r = get_from(&app, "/hello", "192.0.2.1:5001", &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = field(&r, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "Too Many Requests");
    assert_eq!(body["policy"], "hello");
    // Another address has its own limit; a route without a policy is not touched.
    assert_eq!(
        get_from(&app, "/hello", "192.0.2.2:5000", &[])
            .await
            .status(),
        StatusCode::OK
    );
    let free = get_from(&app, "/free", "192.0.2.1:5000", &[]).await;
    assert_eq!(free.status(), StatusCode::OK);
    assert_eq!(field(&free, "ratelimit"), "");
    assert_eq!(server.calls("ratelimit.check"), 5);
}

struct UserId;

impl KeyExtractor for UserId {
    fn extract(&self, request: &Parts) -> Result<Subject, RateLimitError> {
        let user = request
            .headers
            .get("x-user-id")
            .and_then(|v| v.to_str().ok());
        // Refused with an answer of the extractor's own.
        let user =
            user.ok_or_else(|| RateLimitError::rejected((StatusCode::FORBIDDEN, "sign in first")))?;
        Ok(Subject {
            tier: "anonymous".into(),
            id: format!("user:{user}"),
        })
    }
}

#[tokio::test]
async fn a_key_extractor_of_ones_own_decides_who_counts() {
    let server = redis();
    let config = Config::default().limit_route("/hello", &[(1, 60), (5, 3600)]);
    let limiter = RateLimiter::new(config, &server.url())
        .unwrap()
        .with_key_extractor(UserId);
    let app = app(limiter);
    let alice = [("x-user-id", "alice")];
    assert_eq!(
        get_from(&app, "/hello", "192.0.2.1:1", &alice)
            .await
            .status(),
        StatusCode::OK
    );
    // From another address, still alice: the second request in a minute is denied,
    // and the hourly limit loses nothing to it (one MCHECK, all or nothing).
    let denied = get_from(&app, "/hello", "198.51.100.9:1", &alice).await;
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        field(&denied, "ratelimit").contains("\"hello-2\";r=4;"),
        "{}",
        field(&denied, "ratelimit")
    );
    let bob = get_from(&app, "/hello", "192.0.2.1:1", &[("x-user-id", "bob")]).await;
    assert_eq!(bob.status(), StatusCode::OK);
    let nobody = get_from(&app, "/hello", "192.0.2.1:1", &[]).await;
    assert_eq!(nobody.status(), StatusCode::FORBIDDEN);
    let body = axum::body::to_bytes(nobody.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"sign in first");
    // Nothing was counted for the refused request.
    assert_eq!(server.calls("ratelimit.mcheck"), 3);
}

#[tokio::test]
async fn a_policy_for_a_templated_route_limits_every_path_it_matches_as_one() {
    let server = redis();
    let config = Config::default().limit_route("/users/{id}", &[(2, 60)]);
    let limiter = Arc::new(RateLimiter::new(config, &server.url()).unwrap());
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/other/{id}", get(|| async { "other" }))
        .route_layer(RateLimitLayer::new(limiter));
    let peer = "192.0.2.1:1";
    assert_eq!(
        get_from(&app, "/users/1", peer, &[]).await.status(),
        StatusCode::OK
    );
    let second = get_from(&app, "/users/2", peer, &[]).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(field(&second, "ratelimit"), "\"users-{id}\";r=0;t=60");
    let third = get_from(&app, "/users/3", peer, &[]).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    // A route no policy names is not limited.
    let other = get_from(&app, "/other/1", peer, &[]).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(field(&other, "ratelimit"), "");
    assert_eq!(server.calls("ratelimit.check"), 3);
}

/// Counts the statuses of `n` requests from one address.
async fn statuses(app: &Router, n: usize) -> (usize, usize, usize) {
    let (mut ok, mut limited, mut unavailable) = (0, 0, 0);
    for _ in 0..n {
        match get_from(app, "/hello", "192.0.2.7:1", &[]).await.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
            other => panic!("unexpected {other}"),
        }
    }
    (ok, limited, unavailable)
}

#[tokio::test]
async fn a_server_without_the_module_limits_exactly_through_the_script_library() {
    let server = Server::builder().start();
    let config = Config::default().limit_route("/hello", &[(10, 60)]);
    let limiter = Arc::new(RateLimiter::new(config, &server.url()).unwrap());
    assert_eq!(limiter.redis_form(), None);
    let router = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route_layer(RateLimitLayer::new(limiter.clone()));
    assert_eq!(statuses(&router, 40).await, (10, 30, 0));
    let expected = if server.version() >= (7, 0) {
        Form::Functions
    } else {
        Form::Script
    };
    assert_eq!(limiter.redis_form(), Some(expected));
    assert!(!limiter.fallback_active(), "Redis decided every request");
    // Several limits at once go through the library's MCHECK, all or nothing.
    let config = Config::default().limit_route("/hello", &[(1, 60), (5, 3600)]);
    let app = app(RateLimiter::new(config, &server.url()).unwrap());
    let first = get_from(&app, "/hello", "198.51.100.1:1", &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let denied = get_from(&app, "/hello", "198.51.100.1:1", &[]).await;
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(field(&denied, "ratelimit").contains("\"hello-2\";r=4;"));
}

/// The layer builds its keys by the rule of the project's every client: a Python call
/// (the package, from `$RATELIMIT_PYTHON`, which `make layer-test` sets) on the same
/// subject (`<policy>:<client>`) and limit counts on the same key.
#[tokio::test]
async fn a_python_call_on_the_same_subject_and_limit_counts_on_the_same_key() {
    let python = std::env::var_os("RATELIMIT_PYTHON").filter(|p| !p.is_empty());
    let Some(python) = python else {
        // CI runs make test, where make python comes first and makes it.
        assert!(
            std::env::var_os("CI").is_none(),
            "RATELIMIT_PYTHON is not set under CI"
        );
        eprintln!("RATELIMIT_PYTHON is not set: make layer-test runs this with the package");
        return;
    };
    let server = redis();
    let config = Config::default().limit_route("/hello", &[(10, 60)]);
    let app = app(RateLimiter::new(config, &server.url()).unwrap());
    for _ in 0..4 {
        let r = get_from(&app, "/hello", "192.0.2.7:1", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let url = server.url();
    let script = format!(
        "import redis\n\
         from redis_ratelimit import RateLimiter\n\
         limiter = RateLimiter(redis.Redis.from_url('{url}'), prefix='rl:')\n\
         print([limiter.check('hello:ip:192.0.2.7', '10/minute').remaining for _ in range(3)])"
    );
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[5, 4, 3]");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get_from(&app, "/hello", "192.0.2.7:1", &[]).await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let mut c = server.client();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys, ["rl:{hello:ip:192.0.2.7}:10/60000ms"]);
}

#[tokio::test]
async fn a_module_loaded_later_is_found_within_the_probe_interval_and_counts_go_on() {
    let server = Server::builder().debug_commands().start();
    let mut config = Config::default().limit_route("/hello", &[(10, 60)]);
    config.redis.module_probe_ms = 300;
    // Every request to Redis, so that the module's calls can be counted.
    config.deny_cache.enabled = false;
    let limiter = Arc::new(RateLimiter::new(config, &server.url()).unwrap());
    let router = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route_layer(RateLimitLayer::new(limiter.clone()));
    assert_eq!(statuses(&router, 4).await, (4, 0, 0));
    let library = if server.version() >= (7, 0) {
        Form::Functions
    } else {
        Form::Script
    };
    assert_eq!(limiter.redis_form(), Some(library));
    let mut c = server.client();
    let _: () = redis::cmd("MODULE")
        .arg("LOAD")
        .arg(module_path().to_str().unwrap())
        .query(&mut c)
        .unwrap();
    // Before the interval has passed the client keeps its form; past it, the next
    // request asks for the module and stays with it.
    assert_eq!(statuses(&router, 1).await, (1, 0, 0));
    assert_eq!(limiter.redis_form(), Some(library));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(statuses(&router, 35).await, (5, 30, 0), "the count went on");
    assert_eq!(limiter.redis_form(), Some(Form::Module));
    assert_eq!(server.calls("ratelimit.check"), 35);
}

#[tokio::test]
async fn with_function_load_refused_the_script_is_used() {
    let server = Server::builder().start();
    if server.version() < (7, 0) {
        return; // no functions to refuse: the script is used anyway (test above)
    }
    let url = acl_user(&server, &["-function|load"]);
    let config = Config::default().limit_route("/hello", &[(10, 60)]);
    let limiter = Arc::new(RateLimiter::new(config, &url).unwrap());
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route_layer(RateLimitLayer::new(limiter.clone()));
    assert_eq!(statuses(&app, 40).await, (10, 30, 0));
    assert_eq!(limiter.redis_form(), Some(Form::Script));
}

#[tokio::test]
async fn a_server_that_refuses_every_form_leaves_it_to_the_failure_mode() {
    let server = Server::builder().start();
    let url = acl_user(&server, &["-@scripting"]);
    let mut config = Config::default().limit_route("/hello", &[(10, 60)]);
    config.redis.on_failure = axum_redis_ratelimit::config::OnFailure::Closed;
    let limiter = Arc::new(RateLimiter::new(config, &url).unwrap());
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route_layer(RateLimitLayer::new(limiter.clone()));
    assert_eq!(statuses(&app, 5).await, (0, 0, 5));
    assert_eq!(limiter.redis_form(), None);
    assert!(limiter.fallback_active());
}

/// A URL that logs in as a new ACL user allowed everything but `rules`.
fn acl_user(server: &Server, rules: &[&str]) -> String {
    redis::cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">pw", "~*", "+@all"])
        .arg(rules)
        .query::<()>(&mut server.client())
        .unwrap();
    format!("redis://app:pw@127.0.0.1:{}/", server.port)
}

#[tokio::test]
async fn a_handler_settles_what_its_request_cost() {
    use axum::extract::Extension;
    use axum_redis_ratelimit::Reservation;

    let server = redis();
    // 5 requests and 1,000 tokens a minute, one policy: the layer counts one unit of
    // each; the handler settles the tokens its answer used.
    let config = Config::default().limit_route("/chat", &[(5, 60), (1000, 60)]);
    let limiter = Arc::new(RateLimiter::new(config, &server.url()).unwrap());
    let app = Router::new()
        .route(
            "/chat",
            get(
                |Extension(reservation): Extension<Reservation>, headers: HeaderMap| async move {
                    let used: u64 = headers["x-used"].to_str().unwrap().parse().unwrap();
                    let settled = reservation.settle(&[1, used]).await.unwrap();
                    let again = reservation.settle(&[1, used]).await.unwrap();
                    assert!(again.is_empty(), "a reservation settles once");
                    settled
                        .last()
                        .map_or("-".to_string(), |o| o.remaining.to_string())
                },
            ),
        )
        .route_layer(RateLimitLayer::new(limiter.clone()));
    let call = |used: &'static str| {
        let app = app.clone();
        async move { get_from(&app, "/chat", "192.0.2.9:1", &[("x-used", used)]).await }
    };
    let first = call("600").await;
    assert_eq!(first.status(), StatusCode::OK);
    let body = axum::body::to_bytes(first.into_body(), 64).await.unwrap();
    assert_eq!(
        &body[..],
        b"400",
        "1 counted by the layer, 599 settled: 400 left"
    );
    assert_eq!(
        call("500").await.status(),
        StatusCode::OK,
        "400 left: allowed"
    );
    // 1,101 tokens used: in debt, so the next request waits, however few it uses.
    let denied = call("1").await;
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(field(&denied, "ratelimit").contains("\"chat-2\";r=0;"));
    // A refund through the limiter itself gives tokens back (never more than counted).
    let subject = Subject {
        tier: "anonymous".into(),
        id: "ip:192.0.2.9".into(),
    };
    let back = limiter
        .charge("/chat", &subject, &[0, -2000])
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].remaining, 1000);
    assert_eq!(call("1").await.status(), StatusCode::OK);
}
