//! edgeward-ratelimit-service: Envoy's Rate Limit Service API on limitador's limits,
//! with counters in Redis (shared by every instance) or in memory.

mod cli;
mod decide;
mod limits;
mod service;
mod store;

use std::process::ExitCode;
use std::sync::Arc;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::cli::{Parsed, Storage};
use crate::limits::Limits;
use crate::service::Service;
use crate::store::{MemoryStore, RedisStore, Store};

/// Upper bound on in-memory counters (limitador evicts the least used beyond it).
const MEMORY_MAX_COUNTERS: u64 = 100_000;

const NAME: &str = "edgeward-ratelimit-service";

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(args)) => args,
        Err(msg) => {
            eprintln!("{NAME}: {msg}");
            return ExitCode::from(2);
        }
    };
    let limits = match Limits::load(&args.limits) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{NAME}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args, limits))
}

async fn serve(args: cli::Args, limits: Limits) -> ExitCode {
    let store = match &args.storage {
        Storage::Memory => Store::Memory(MemoryStore::new(MEMORY_MAX_COUNTERS)),
        Storage::Redis(url) => match RedisStore::connect(url).await {
            Ok(s) => Store::Redis(s),
            Err(e) => {
                eprintln!("{NAME}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // Bind before announcing readiness, so "ready" means connections are accepted.
    let incoming = match TcpIncoming::bind(args.listen) {
        Ok(i) => i.with_nodelay(Some(true)),
        Err(e) => {
            eprintln!("{NAME}: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{NAME}: listening on {}, storage {}, {} limits from {}: {}",
        args.listen,
        store.describe(),
        limits.len(),
        args.limits.display(),
        limits.summary()
    );
    let service = Service {
        limits: Arc::new(limits),
        store: Arc::new(store),
    };
    println!("{NAME} ready on {}", args.listen);
    let result = Server::builder()
        .serve_with_incoming_shutdown(RateLimitServiceServer::new(service), incoming, shutdown())
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: gRPC server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT; the server then stops accepting and drains.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
