//! `ratelimit-demo --redis-url URL --listen ADDR [--config FILE]`

use std::sync::Arc;

use clap::Parser;
use ratelimit_demo::config::{self, Config, ConfigFile};
use ratelimit_demo::load::SystemLoad;

/// A rate-limited web API that calls the redis-ratelimit module once per request.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Redis with the module loaded: redis://host:port, or a cluster as
    /// redis+cluster://host:port,host:port
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: String,
    /// Policy file (TOML); the bundled default without it.
    #[arg(long, env = "RATELIMIT_CONFIG")]
    config: Option<std::path::PathBuf>,
}

fn load_config(args: &Args) -> Result<Config, String> {
    let text = match &args.config {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => config::DEFAULT.to_string(),
    };
    Config::parse(&text)?.with_env(|name| std::env::var(name).ok())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ratelimit-demo: configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ratelimit-demo: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(1);
        }
    };
    tracing::info!(listen = %args.listen, redis = %args.redis_url, "ratelimit-demo serving: open http://{}/", args.listen);
    let served = ratelimit_demo::serve(
        listener,
        config,
        &args.redis_url,
        Arc::new(SystemLoad::new()),
        shutdown_signal(),
    )
    .await;
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ratelimit-demo: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
