//! The demo API against a real redis-server with the module: limits, headers, client
//! identity, API keys, failure modes, the deny cache, adaptive limits, and the
//! never-limited endpoints.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const DATA: &str = "/api/data";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_get_ten_then_429_with_every_header() {
    let redis = Redis::start();
    let app = App::start(config(|c| c), &redis.url()).await;
    for i in 0..10 {
        let r = app.get(DATA, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(header(&r, "ratelimit-policy"), "\"anon\";q=10;w=60");
        let rl = header(&r, "ratelimit");
        assert!(rl.starts_with(&format!("\"anon\";r={};t=", 9 - i)), "{rl}");
    }
    for _ in 0..3 {
        let r = app.get(DATA, &[]).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&r, "ratelimit-policy"), "\"anon\";q=10;w=60");
        assert!(header(&r, "ratelimit").starts_with("\"anon\";r=0;t="));
        let retry: u64 = header(&r, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "Too Many Requests");
        assert_eq!(body["policy"], "anon");
        let ms = body["retry_after_ms"].as_i64().unwrap();
        assert!(ms > 0 && ms <= 60_000, "{body}");
        assert_eq!(
            retry,
            (ms as u64).div_ceil(1000),
            "Retry-After is the wait rounded up"
        );
    }
    // The count lives in Redis, under a bounded key for this client.
    let mut con = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("rl:*").query(&mut con).unwrap();
    assert_eq!(keys, ["rl:{anon:ip:127.0.0.1}:10/60000ms"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let redis = Redis::start();
    // The tests' peer is 127.0.0.1: untrusted by default.
    let app = App::start(config(|c| c), &redis.url()).await;
    for i in 0..12 {
        let spoof = format!("203.0.113.{i}");
        let r = app
            .get(
                DATA,
                &[
                    ("x-forwarded-for", &spoof),
                    ("forwarded", &format!("for={spoof}")),
                ],
            )
            .await;
        let want = if i < 10 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            r.status(),
            want,
            "spoofed request {i} counts against the peer"
        );
    }

    let trusted =
        config(|c| c.replace("trusted_proxies = []", "trusted_proxies = [\"127.0.0.1\"]"));
    let redis = Redis::start();
    let app = App::start(trusted, &redis.url()).await;
    for _ in 0..10 {
        let r = app.get(DATA, &[("x-forwarded-for", "198.51.100.1")]).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app.get(DATA, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the proxy has its own limit; in a chain, the rightmost
    // untrusted address is the client, whatever the client wrote to its left.
    let r = app
        .get(DATA, &[("x-forwarded-for", "198.51.100.1, 198.51.100.2")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "ratelimit").starts_with("\"anon\";r=9;"));
    let mut con = redis.connection();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("rl:*").query(&mut con).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "rl:{anon:ip:198.51.100.1}:10/60000ms",
            "rl:{anon:ip:198.51.100.2}:10/60000ms"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pro_key_has_its_own_hundred_and_unknown_keys_get_401() {
    let redis = Redis::start();
    let app = App::start(config(|c| c), &redis.url()).await;
    for _ in 0..10 {
        app.get(DATA, &[]).await;
    }
    assert_eq!(
        app.get(DATA, &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let pro = [("x-api-key", "demo-pro-key")];
    for i in 0..100 {
        let r = app.get(DATA, &pro).await;
        assert_eq!(r.status(), StatusCode::OK, "pro request {i}");
        assert_eq!(header(&r, "ratelimit-policy"), "\"pro\";q=100;w=60");
    }
    let r = app.get(DATA, &pro).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json::<Value>().await.unwrap()["policy"], "pro");

    let r = app.get(DATA, &[("x-api-key", "guess")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Unauthorized");
    // The API key itself is never stored in Redis: the key's configured name is.
    let mut con = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("rl:{pro*").query(&mut con).unwrap();
    assert_eq!(keys, ["rl:{pro:key:demo}:100/60000ms"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_locally_and_comes_back_without_a_restart() {
    let mut redis = Redis::start();
    // A policy name of its own, so that the metrics below count this test's requests
    // only (the metrics recorder is shared by every app in the process).
    let app = App::start(
        config(|c| c.replace("name = \"anon\"", "name = \"outage\"")),
        &redis.url(),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.get(DATA, &[]).await.status(), StatusCode::OK);
    }
    redis.kill();
    // The local limiter takes over with the same policy: ten more, then 429. Never a 500.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(app.get(DATA, &[]).await.status().as_u16());
    }
    assert_eq!(statuses[..10], [200; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 2], "{statuses:?}");
    let health: Value = app.get("/healthz", &[]).await.json().await.unwrap();
    assert_eq!(health["redis"], "down");
    assert_eq!(health["fallback_active"], true);

    redis.restart();
    // Limiting goes through Redis again: the count appears in the new server.
    let mut con = redis.connection();
    wait_until(
        "a request counted in Redis again",
        Duration::from_secs(20),
        async || {
            app.get("/api/data?again", &[]).await;
            redis::cmd("EXISTS")
                .arg("rl:{outage:ip:127.0.0.1}:10/60000ms")
                .query::<i64>(&mut con)
                .unwrap()
                == 1
        },
    )
    .await;
    let health: Value = app.get("/healthz", &[]).await.json().await.unwrap();
    assert_eq!(health["redis"], "up");
    assert_eq!(health["fallback_active"], false);
    let metrics = app.get("/metrics", &[]).await.text().await.unwrap();
    let count = |decision: &str| counter(&metrics, "outage", decision, "fallback");
    // Ten allowed locally; the denials are the two above plus any polls made while
    // the restarted server was not yet in use.
    assert_eq!(count("allowed"), 10, "{metrics}");
    assert!(count("denied") >= 2, "{metrics}");
    assert!(
        counter(&metrics, "outage", "allowed", "redis") >= 4,
        "{metrics}"
    );
    // The outage counted under the demo's names, and only there: the crate's default
    // names are not exported at zero beside them.
    let errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ratelimit_demo_redis_errors_total "))
        .and_then(|n| n.trim().parse::<f64>().ok());
    assert!(errors.is_some_and(|n| n >= 1.0), "{metrics}");
    for default in [
        "ratelimit_redis_errors_total",
        "ratelimit_fallback_active",
        "ratelimit_redis_call_seconds",
    ] {
        assert!(!metrics.contains(default), "{default} exported: {metrics}");
    }
}

/// The value of `ratelimit_demo_requests_total` for one policy, decision and source.
fn counter(metrics: &str, policy: &str, decision: &str, source: &str) -> u64 {
    let labels = format!(
        "{{route=\"/api/data\",policy=\"{policy}\",decision=\"{decision}\",source=\"{source}\"}} "
    );
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("ratelimit_demo_requests_total")?
                .strip_prefix(&labels)
        })
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_modes_open_and_closed() {
    let mut redis = Redis::start();
    let open = App::start(
        config(|c| c.replace("on_failure = \"local\"", "on_failure = \"open\"")),
        &redis.url(),
    )
    .await;
    let closed = App::start(
        config(|c| c.replace("on_failure = \"local\"", "on_failure = \"closed\"")),
        &redis.url(),
    )
    .await;
    redis.kill();
    for _ in 0..15 {
        let r = open.get(DATA, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "open: every request passes");
        let r = closed.get(DATA, &[]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "closed: 503");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "Service Unavailable"
        );
    }
    // Never-limited routes keep answering either way.
    assert_eq!(closed.get("/healthz", &[]).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_clients_are_answered_locally_until_their_retry_time() {
    let redis = Redis::start();
    let app = App::start(config(|c| c), &redis.url()).await;
    for _ in 0..11 {
        app.get(DATA, &[]).await;
    }
    let calls = redis.calls("ratelimit.check");
    assert_eq!(calls, 11);
    for _ in 0..20 {
        let r = app.get(DATA, &[]).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
    }
    assert_eq!(
        redis.calls("ratelimit.check"),
        calls,
        "no Redis call for cached denials"
    );

    // Switched off, every request asks Redis.
    let redis = Redis::start();
    let app = App::start(
        config(|c| {
            c.replace(
                "enabled = true\nmax_entries",
                "enabled = false\nmax_entries",
            )
        }),
        &redis.url(),
    )
    .await;
    for _ in 0..15 {
        app.get(DATA, &[]).await;
    }
    assert_eq!(redis.calls("ratelimit.check"), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_limits_shrink_under_load() {
    let redis = Redis::start();
    let app = App::start(
        config(|c| c.replace("enabled = false\nthreshold", "enabled = true\nthreshold")),
        &redis.url(),
    )
    .await;
    *app.load.0.lock().unwrap() = Some(0.2);
    let r = app.get(DATA, &[]).await;
    assert_eq!(header(&r, "ratelimit-policy"), "\"anon\";q=10;w=60");
    *app.load.0.lock().unwrap() = Some(3.0);
    let r = app.get(DATA, &[]).await;
    assert_eq!(
        header(&r, "ratelimit-policy"),
        "\"anon\";q=5;w=60",
        "halved"
    );
    // Two counted so far; the shrunk limit leaves three.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(app.get(DATA, &[]).await.status().as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Load gone: the full limit is back.
    *app.load.0.lock().unwrap() = Some(0.1);
    app.get("/healthz", &[]).await;
    let redis_limit = app.get(DATA, &[("x-api-key", "demo-pro-key")]).await;
    assert_eq!(
        header(&redis_limit, "ratelimit-policy"),
        "\"pro\";q=100;w=60"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_limits_in_a_policy_go_through_mcheck() {
    let redis = Redis::start();
    let two = config(|c| {
        c.replace(
            "limits = [{ limit = 10, window_s = 60 }]",
            "limits = [{ limit = 2, window_s = 60 }, { limit = 3, window_s = 3600 }]",
        )
    });
    let app = App::start(two, &redis.url()).await;
    let r = app.get(DATA, &[]).await;
    assert_eq!(
        header(&r, "ratelimit-policy"),
        "\"anon-1\";q=2;w=60, \"anon-2\";q=3;w=3600"
    );
    app.get(DATA, &[]).await;
    let r = app.get(DATA, &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        header(&r, "ratelimit").contains("\"anon-2\";r=1;"),
        "{}",
        header(&r, "ratelimit")
    );
    assert_eq!(redis.calls("ratelimit.mcheck"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_api_description_answer_and_are_never_limited() {
    let redis = Redis::start();
    let app = App::start(
        config(|c| c.replace("name = \"anon\"", "name = \"observed\"")),
        &redis.url(),
    )
    .await;
    for _ in 0..11 {
        app.get(DATA, &[]).await;
    }
    for _ in 0..20 {
        for path in [
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/docs/",
            "/",
            "/api/public",
        ] {
            let r = app.get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&r, "ratelimit"), "", "{path} is not limited");
        }
    }
    let health: Value = app.get("/healthz", &[]).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["redis"], "up");
    let metrics = app.get("/metrics", &[]).await.text().await.unwrap();
    assert_eq!(
        counter(&metrics, "observed", "allowed", "redis"),
        10,
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "observed", "denied", "redis"),
        1,
        "{metrics}"
    );
    assert!(
        metrics.contains("ratelimit_demo_redis_call_seconds"),
        "{metrics}"
    );
    let api: Value = app.get("/openapi.json", &[]).await.json().await.unwrap();
    assert!(
        api["paths"]["/api/data"]["get"]["responses"]["429"].is_object(),
        "{api}"
    );
    let docs = app.get("/docs/", &[]).await.text().await.unwrap();
    assert!(docs.contains("swagger"), "{docs}");
    let page = app.get("/", &[]).await.text().await.unwrap();
    assert!(page.contains("/assets/app.js"));
}
