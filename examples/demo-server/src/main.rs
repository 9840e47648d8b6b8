//! `cargo run -p demo-server`: the tower-hmac demo on 127.0.0.1:8080.
//!
//! Environment:
//! - `TOWER_HMAC_DEMO_ADDR`: listening address (default 127.0.0.1:8080);
//! - `TOWER_HMAC_DEMO_REGISTRY`: a registry TOML file instead of the embedded demo one, kept in
//!   force: its changes (and `SIGHUP`) reload it, a broken version is refused and logged; or a
//!   `postgres://…` URL: the PostgreSQL registry (tower-hmac-postgres), with the master key in
//!   `TOWER_HMAC_MASTER_KEY`;
//! - `TOWER_HMAC_DEMO_REPLAY_STORE`: `memory` (default), a `redis://host:port` URL shared by
//!   several instances, or a Redis Cluster, `redis+cluster://host:port[,host:port…]` (its seed
//!   nodes); `TOWER_HMAC_DEMO_REDIS_PREFIX`: its key prefix;
//! - `TOWER_HMAC_DEMO_HOSTS`: further allowed hosts, comma-separated (a load balancer's name);
//! - `TOWER_HMAC_DEMO_MAX_SKEW`: the allowed clock skew in whole seconds (default 300), so that the
//!   window's edge can be tried in seconds;
//! - `TOWER_HMAC_DEMO_THROTTLE`: failed authentications allowed per client address and per key id at an address,
//!   `FAILURES/SECONDS` (default `20/60`), or `off`;
//! - `TOWER_HMAC_DEMO_POLICY_STORE`: where the throttle's buckets and the risk monitor's per-key
//!   state live: `memory` (default, each instance its own), a `redis://…` URL or
//!   `redis+cluster://host:port,…` shared by every instance; `TOWER_HMAC_DEMO_POLICY_PREFIX`: its
//!   key prefix;
//! - `TOWER_HMAC_DEMO_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For`/`-Host`/`-Proto` are
//!   believed, comma-separated addresses or networks (default: none);
//! - `TOWER_HMAC_DEMO_JWT_SECRET`: the HS256 key of the session tokens, Base64 (default: random
//!   per start); `TOWER_HMAC_DEMO_SESSION_STORE`: `memory` (default), `redis://…`,
//!   `redis+cluster://host:port,…` or `postgres://…`; `TOWER_HMAC_DEMO_SESSION_NAMESPACE`: its key prefix or schema;
//! - `TOWER_HMAC_DEMO_ACCESS_TTL`: the session access tokens' lifetime in whole seconds
//!   (default 900; `2` to try expiry); `TOWER_HMAC_DEMO_MAX_SESSIONS`: live sessions per user
//!   (default: no limit; `1`: a login ends the previous session);
//! - `TOWER_HMAC_DEMO_UPSTREAM`: an upstream API (another demo instance) to call on the users'
//!   behalf (`/delegation/*`; HTTPS, or `http://` to a loopback address with
//!   `TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1`); `TOWER_HMAC_DEMO_VAULT_STORE`: where the
//!   delegated tokens are kept (`memory`, `redis://…`, `redis+cluster://…`, `postgres://…`),
//!   `TOWER_HMAC_DEMO_VAULT_NAMESPACE` its prefix or schema, `TOWER_HMAC_DEMO_VAULT_MASTER_KEY`
//!   and `TOWER_HMAC_DEMO_VAULT_USER_KEY` its keys (Base64, 32 bytes; random per start unless
//!   set, required with a shared store);
//! - `RUST_LOG`: `level` and `target=level` directives, comma-separated (default
//!   `info,tower_hmac=debug,tower_http=info`); one that does not parse stops the start.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tower_hmac::registry::FileRegistry;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> ExitCode {
    // A filter that does not parse is refused, not replaced: an operator who asked for some log
    // lines must not silently get others (or none). `RUST_LOG` is a list of `level` and
    // `target=level` directives (tracing-subscriber's `Targets`: no regex engine to build).
    let text = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| "info,tower_hmac=debug,tower_http=info".to_owned());
    let filter = match text.parse::<Targets>() {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("demo-server: RUST_LOG={text:?} is not a log filter: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(filter)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr =
        std::env::var("TOWER_HMAC_DEMO_ADDR").unwrap_or_else(|_| demo_server::DEFAULT_ADDR.into());
    // A PostgreSQL URL, a file (watched for as long as the server runs: `_watching`), or the
    // embedded demo registry.
    let source = std::env::var("TOWER_HMAC_DEMO_REGISTRY").ok();
    let (registry, custom, _watching) = match source.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let keyring = tower_hmac_postgres::Keyring::from_env("TOWER_HMAC_MASTER_KEY")?;
            let registry = tower_hmac_postgres::PostgresRegistry::connect(
                url,
                keyring,
                tower_hmac_postgres::RegistryOptions::default(),
            )
            .await?;
            let described = format!(
                "PostgreSQL ({} keys; changes on every instance within 1 s)",
                registry.len()
            );
            (Registry::Postgres(registry), Some(described), None)
        }
        Some(path) => {
            let file = FileRegistry::open(path)?;
            let watching = file.watch()?;
            let described = format!(
                "{} (watched: changes are in force within 2 s; SIGHUP reloads)",
                file.path().display()
            );
            (
                Registry::Memory(file.registry()),
                Some(described),
                Some(watching),
            )
        }
        None => (Registry::Memory(demo_server::demo_registry()?), None, None),
    };
    // The session store first: it must have answered (within its timeout) before the server
    // binds and says "listening" (issue 25 item 6); an unreachable one is an error at start.
    let policy = demo_server::sessions::SessionPolicy::parse(
        std::env::var("TOWER_HMAC_DEMO_ACCESS_TTL").ok().as_deref(),
        std::env::var("TOWER_HMAC_DEMO_MAX_SESSIONS")
            .ok()
            .as_deref(),
    )?;
    let sessions = demo_server::sessions::sessions_with(
        std::env::var("TOWER_HMAC_DEMO_JWT_SECRET").ok().as_deref(),
        &demo_server::sessions::backend(
            &std::env::var("TOWER_HMAC_DEMO_SESSION_STORE").unwrap_or_default(),
            std::env::var("TOWER_HMAC_DEMO_SESSION_NAMESPACE").ok(),
        )?,
        &policy,
    )
    .await?;
    // Delegation (TOWER_HMAC_DEMO_UPSTREAM): the upstream checked and the vault's store
    // answering before the server says it listens; an `http://` upstream that is not a
    // loopback address allowed by TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1 stops the start.
    let delegation = match demo_server::delegation::DelegationSettings::from_env()? {
        Some(settings) => Some((settings.open().await?, settings)),
        None => None,
    };
    let mut session_routes = demo_server::sessions::routes(std::sync::Arc::clone(&sessions))?;
    if let Some((delegation, _)) = &delegation {
        session_routes = session_routes.merge(demo_server::delegation::routes(
            std::sync::Arc::clone(&sessions),
            delegation.clone(),
        ));
    }
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let settings = demo_server::Settings {
        extra_hosts: comma_list("TOWER_HMAC_DEMO_HOSTS"),
        replay_store: demo_server::ReplayStore::parse(
            &std::env::var("TOWER_HMAC_DEMO_REPLAY_STORE").unwrap_or_default(),
            std::env::var("TOWER_HMAC_DEMO_REDIS_PREFIX").ok(),
        )?,
        max_skew: std::env::var("TOWER_HMAC_DEMO_MAX_SKEW")
            .ok()
            .map(|v| demo_server::Settings::parse_max_skew(&v))
            .transpose()?,
        throttle: std::env::var("TOWER_HMAC_DEMO_THROTTLE")
            .ok()
            .map(|v| demo_server::Throttle::parse(&v))
            .transpose()?
            .unwrap_or_default(),
        trusted_proxies: comma_list("TOWER_HMAC_DEMO_TRUSTED_PROXIES"),
        clock: None,
        policy_store: demo_server::SharedPolicy::open(
            &std::env::var("TOWER_HMAC_DEMO_POLICY_STORE").unwrap_or_default(),
            std::env::var("TOWER_HMAC_DEMO_POLICY_PREFIX")
                .ok()
                .as_deref(),
        )
        .await?,
    };
    // The layer's metrics (requests by outcome, code, scheme and app; latency; replay store;
    // registry lookups), served at GET /metrics.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    // One layer for every signed route (the token and each webhook provider kept to their
    // routes), so one replay store: a value recorded through one scheme is a replay through
    // every other (and, on Redis, through every instance).
    let store = demo_server::open_replay_store(&settings).await?;
    let layer = demo_server::layer_checked(registry, bound, &settings, &store).await?;
    println!("tower-hmac demo server listening on http://{bound}");
    match &settings.replay_store {
        demo_server::ReplayStore::Memory => {
            println!("  replay store: in-process (this instance only)")
        }
        demo_server::ReplayStore::Redis { url, prefix } => {
            println!(
                "  replay store: Redis at {url}, prefix {prefix:?} (shared by every instance)"
            );
        }
        demo_server::ReplayStore::RedisCluster { nodes, prefix } => {
            println!(
                "  replay store: Redis Cluster through {}, prefix {prefix:?} (shared by every instance)",
                nodes.join(", ")
            );
        }
    }
    if let Some(skew) = settings.max_skew {
        println!("  clock skew: ±{} s", skew.as_secs());
    }
    match settings.throttle {
        demo_server::Throttle::Off => println!("  failure throttling: off"),
        demo_server::Throttle::Failures { failures, seconds } => println!(
            "  failure throttling: {failures} failed authentications per {seconds} s per client address and per key id at an address, then 429"
        ),
    }
    if settings.policy_store.is_some() {
        println!(
            "  throttle buckets and risk signals: shared by every instance (TOWER_HMAC_DEMO_POLICY_STORE)"
        );
    }
    println!("  GET  /health   open");
    println!("  GET  /metrics  open: Prometheus text (tower_hmac_requests_total, …)");
    println!(
        "  GET  /whoami   signed (v1, softaware Hmac, RFC 9421, AWS SigV4, Kong and APISIX hmac-auth): answers with the caller's app, key id and scheme"
    );
    println!(
        "  GET  /admin/whoami  signed, scope `admin` (app demo-admin, key demo-admin-2026): 403 insufficient_scope for the demo key"
    );
    println!("  POST /echo     signed: answers with the body it was sent (PUT too)");
    let ttl = sessions.config().access_lifetime().as_secs();
    let ttl = if ttl % 60 == 0 {
        format!("{} min", ttl / 60)
    } else {
        format!("{ttl} s")
    };
    let limit = match policy.max_sessions {
        Some(n) => format!("; at most {n} session(s) per user: a login ends the oldest"),
        None => String::new(),
    };
    println!(
        "  POST /auth/login    {{\"username\":\"demo\",\"password\":\"demo-password\"}} (demo only) → access (HS256, {ttl}) + refresh token{limit}"
    );
    println!(
        "  POST /auth/refresh  {{\"refresh_token\"}}: a new pair, the old refresh token retired (reuse revokes the session)"
    );
    println!(
        "  POST /auth/logout   Bearer access token (+ optional refresh_token): ends the session; /auth/logout-all: every session"
    );
    println!("  GET  /me            Bearer access token");
    println!("  GET|PUT /objects/<key>  signed: S3-style keys, answered as /whoami and /echo");
    println!(
        "  GET  /token/whoami  the ID:TS:HMAC token (X-Auth-Token, 30 s, once): this route only"
    );
    println!("  POST /webhooks/github  GitHub's X-Hub-Signature-256");
    println!("  POST /webhooks/stripe  Stripe-Signature (300 s, once)");
    println!(
        "  POST /webhooks/slack   X-Slack-Signature + X-Slack-Request-Timestamp (300 s, once)"
    );
    if let Some(described) = &custom {
        println!("  registry: {described}");
    }
    if custom.is_none() {
        println!();
        println!(
            "Call it with the CLI (demo key, published in the repository: never use it elsewhere):"
        );
        println!("  export TOWER_HMAC_KEY_ID={}", demo_server::DEMO_KEY_ID);
        println!(
            "  export TOWER_HMAC_SECRET={}",
            demo_server::demo_secret_base64()
        );
        println!("  cargo run -q -p tower-hmac-cli -- sign GET http://{bound}/whoami --curl | sh");
        println!(
            "  cargo run -q -p tower-hmac-cli -- sign POST http://{bound}/echo -H 'Content-Type: application/json' -d '{{\"hello\":\"world\"}}' --curl | sh"
        );
        println!(
            "softaware's ASP.NET ApiKeyDelegatingHandler: AppId {}, ApiKey the secret above, http://{bound}",
            demo_server::DEMO_KEY_ID
        );
        println!(
            "AWS SigV4 (region {}, service {}): access key id {}, secret access key the secret above:",
            demo_server::DEMO_SIGV4_REGION,
            demo_server::DEMO_SIGV4_SERVICE,
            demo_server::DEMO_KEY_ID
        );
        println!(
            "  curl --aws-sigv4 \"aws:amz:{}:{}\" --user \"$TOWER_HMAC_KEY_ID:$TOWER_HMAC_SECRET\" http://{bound}/whoami",
            demo_server::DEMO_SIGV4_REGION,
            demo_server::DEMO_SIGV4_SERVICE
        );
        println!(
            "RFC 9421 (hmac-sha256): keyid {}, the secret above Base64-decoded; cover @method @authority @path (+ @query, content-digest)",
            demo_server::DEMO_KEY_ID
        );
        println!(
            "  .ci/venv/bin/python examples/demo-server/tests/py/rfc9421_client.py http://{bound} {} \"$TOWER_HMAC_SECRET\" 1   (pip install http-message-signatures requests)",
            demo_server::DEMO_KEY_ID
        );
        println!(
            "Kong hmac-auth: username {id}, secret the text above; APISIX hmac-auth (3.11+): keyId {id}, the same secret. Sign date (and digest with a body):",
            id = demo_server::DEMO_KEY_ID
        );
        println!(
            "  d=$(date -u '+%a, %d %b %Y %H:%M:%S GMT'); s=$(printf 'date: %s' \"$d\" | openssl dgst -sha256 -hmac \"$TOWER_HMAC_SECRET\" -binary | base64)"
        );
        println!(
            "  curl -H \"Date: $d\" -H \"Authorization: hmac username=\\\"$TOWER_HMAC_KEY_ID\\\", algorithm=\\\"hmac-sha256\\\", headers=\\\"date\\\", signature=\\\"$s\\\"\" http://{bound}/whoami"
        );
        println!("The token from a shell (openssl):");
        println!(
            "  ts=$(date +%s); mac=$(printf '%s' \"$TOWER_HMAC_KEY_ID.$ts\" | openssl dgst -sha256 -hmac \"$TOWER_HMAC_SECRET\" | sed 's/.*= //')"
        );
        println!(
            "  curl -H \"X-Auth-Token: $TOWER_HMAC_KEY_ID:$ts:$mac\" http://{bound}/token/whoami"
        );
        println!("Webhook deliveries from a shell (the demo's published provider secrets):");
        println!(
            "  body='{{\"zen\":\"hello\"}}'; ts=$(date +%s); hmac() {{ printf '%s' \"$2\" | openssl dgst -sha256 -hmac \"$1\" | sed 's/.*= //'; }}"
        );
        println!(
            "  curl -H \"X-Hub-Signature-256: sha256=$(hmac {} \"$body\")\" -d \"$body\" http://{bound}/webhooks/github",
            demo_server::DEMO_GITHUB_SECRET
        );
        println!(
            "  curl -H \"Stripe-Signature: t=$ts,v1=$(hmac {} \"$ts.$body\")\" -d \"$body\" http://{bound}/webhooks/stripe",
            demo_server::DEMO_STRIPE_SECRET
        );
        println!(
            "  curl -H \"X-Slack-Request-Timestamp: $ts\" -H \"X-Slack-Signature: v0=$(hmac {} \"v0:$ts:$body\")\" -d \"$body\" http://{bound}/webhooks/slack",
            demo_server::DEMO_SLACK_SECRET
        );
    }
    println!();
    match &delegation {
        Some((_, settings)) => println!(
            "Delegation: calls {} on its users' behalf; vault store {}",
            settings.upstream,
            settings.store.kind()
        ),
        None => println!("Delegation: off (TOWER_HMAC_DEMO_UPSTREAM unset). To try it:"),
    }
    println!("  # the upstream: a second instance with 2-second access tokens");
    println!(
        "  TOWER_HMAC_DEMO_ADDR=127.0.0.1:8081 TOWER_HMAC_DEMO_ACCESS_TTL=2 cargo run -p demo-server"
    );
    println!("  # this one, calling it (plain HTTP to a loopback address: development only)");
    println!(
        "  TOWER_HMAC_DEMO_UPSTREAM=http://127.0.0.1:8081 TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1 cargo run -p demo-server"
    );
    let up = match &delegation {
        Some((_, settings)) => settings.upstream.trim_end_matches('/').to_owned(),
        None => "http://127.0.0.1:8081".to_owned(),
    };
    let here = match &delegation {
        Some(_) => format!("http://{bound}"),
        None => "http://127.0.0.1:8080".to_owned(),
    };
    println!(
        "  login='{{\"username\":\"demo\",\"password\":\"demo-password\"}}'; json='Content-Type: application/json'"
    );
    println!("  linked=$(curl -s -H \"$json\" -d \"$login\" {up}/auth/login)");
    println!(
        "  me=$(curl -s -H \"$json\" -d \"$login\" {here}/auth/login | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    println!(
        "  POST /delegation/link        curl -H \"Authorization: Bearer $me\" -H \"$json\" -d \"$linked\" {here}/delegation/link"
    );
    println!(
        "  GET  /delegation/upstream/me curl -H \"Authorization: Bearer $me\" {here}/delegation/upstream/me   (refreshed when expired)"
    );
    println!(
        "  POST /delegation/revoke      curl -X POST -H \"Authorization: Bearer $me\" {here}/delegation/revoke"
    );
    println!(
        "  POST /delegation/revoke-all  curl -X POST -H \"Authorization: Bearer $me\" {here}/delegation/revoke-all   (every token and session)"
    );
    demo_server::serve_all(
        listener,
        layer,
        Some(session_routes),
        Some(metrics),
        shutdown(),
    )
    .await?;
    println!("demo-server: stopped");
    Ok(())
}

/// The comma-separated items of the environment variable `var` (none when unset).
fn comma_list(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Completes on Ctrl-C or `SIGTERM`: the server stops accepting and lets requests in flight end.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The registry the demo serves from.
#[derive(Clone)]
enum Registry {
    Memory(tower_hmac::InMemoryRegistry),
    Postgres(tower_hmac_postgres::PostgresRegistry),
}

impl tower_hmac::registry::KeyRegistry for Registry {
    fn lookup(
        &self,
        key_id: &str,
    ) -> tower_hmac::registry::StoreFuture<
        Result<Option<tower_hmac::registry::KeyRecord>, tower_hmac::registry::RegistryError>,
    > {
        match self {
            Self::Memory(registry) => registry.lookup(key_id),
            Self::Postgres(registry) => registry.lookup(key_id),
        }
    }
}
