//! What the demo's tests share: the demo binary started as a process, the demo served in this
//! process on a clock the test controls, and raw requests over TCP.

use std::io;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for something it expects to happen (a file watcher's reload, a log
/// line, a process's exit) before it fails. A failure guard only: no figure within it is
/// asserted, and a slow machine only makes the wait longer.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Unix seconds now, on the system clock.
pub(crate) fn now_seconds() -> u64 {
    tower_hmac::protocol::clock::unix_seconds(SystemTime::now())
}

/// A running demo-server process, killed when dropped.
pub(crate) struct Instance {
    pub(crate) addr: SocketAddr,
    pub(crate) child: Child,
    /// Every line it printed after "listening" (its log, at `RUST_LOG=warn` unless set).
    lines: mpsc::UnboundedReceiver<String>,
}

impl Instance {
    /// Waits for a printed line containing `needle` (panics after [`PATIENCE`]).
    pub(crate) async fn line_with(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("demo-server exited before printing {needle:?}");
        })
        .await;
        found.unwrap_or_else(|_| panic!("no line with {needle:?} within {PATIENCE:?}"))
    }
}

/// Starts the demo binary with these environment variables (`RUST_LOG=warn` unless given) and
/// waits until it says where it listens.
pub(crate) async fn start_demo(env: &[(&str, &str)]) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo-server"));
    command.env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start demo-server");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = out.next_line().await.unwrap().expect("demo-server exited");
        if let Some(rest) = line.strip_prefix("tower-hmac demo server listening on http://") {
            break rest.parse().unwrap();
        }
    };
    // Keep draining its output so that it never blocks on a full pipe.
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = out.next_line().await {
            let _ = tx.send(line);
        }
    });
    Instance { addr, child, lines }
}

/// A clock the test controls: held at an instant until set again, or running a fixed time
/// behind the system clock.
#[derive(Clone)]
pub(crate) struct TestClock(Arc<Mutex<Setting>>);

#[derive(Clone, Copy)]
enum Setting {
    /// Unix milliseconds.
    At(u64),
    /// Milliseconds behind the system clock.
    Behind(u64),
}

impl TestClock {
    /// A clock held at `millis` (Unix milliseconds).
    pub(crate) fn at(millis: u64) -> Self {
        Self(Arc::new(Mutex::new(Setting::At(millis))))
    }

    /// A clock running `lag` behind the system clock.
    pub(crate) fn behind(lag: Duration) -> Self {
        let lag = u64::try_from(lag.as_millis()).unwrap();
        Self(Arc::new(Mutex::new(Setting::Behind(lag))))
    }

    /// Holds the clock at `millis` (Unix milliseconds).
    pub(crate) fn set(&self, millis: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Setting::At(millis);
    }

    /// The clock for [`demo_server::Settings::clock`].
    pub(crate) fn demo(&self) -> demo_server::DemoClock {
        demo_server::DemoClock(Arc::new(self.clone()))
    }
}

impl tower_hmac::protocol::Clock for TestClock {
    fn now(&self) -> SystemTime {
        match *self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Setting::At(millis) => SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
            Setting::Behind(lag) => SystemTime::now() - Duration::from_millis(lag),
        }
    }
}

/// How far behind the system clock [`behind_the_clients`] runs the demo's layer.
pub(crate) const LAG: Duration = Duration::from_secs(5);

/// Settings for a demo that clients signing with the machine's clock (curl, botocore, a Python
/// library) reach without waiting: the layer's clock runs [`LAG`] behind the system's, so its
/// replay store's horizon (its start, on the layer's clock) is already seconds in the past for
/// them, and their timestamps are [`LAG`] ahead of the server — well within its skew.
pub(crate) fn behind_the_clients() -> demo_server::Settings {
    demo_server::Settings {
        clock: Some(TestClock::behind(LAG).demo()),
        ..Default::default()
    }
}

/// The demo served in this process, until dropped.
pub(crate) struct InProcess {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl InProcess {
    /// Serves the demo's routes behind `layer` on `listener`.
    pub(crate) fn spawn(listener: TcpListener, layer: tower_hmac::HmacAuthLayer) -> Self {
        Self {
            addr: listener.local_addr().unwrap(),
            task: tokio::spawn(demo_server::serve_with(listener, layer)),
        }
    }
}

/// A listener on a port the OS picks, and its address.
pub(crate) async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The demo's routes and layer (`demo_server::layer`, with a new replay store, as a new process
/// would have) for the embedded registry and these settings, served in this process.
pub(crate) async fn serve_demo(settings: &demo_server::Settings) -> InProcess {
    let (listener, addr) = listener().await;
    let store = demo_server::replay_store(settings).unwrap();
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        addr,
        settings,
        &store,
    )
    .unwrap();
    InProcess::spawn(listener, layer)
}

/// Sends raw bytes; returns the status (0 when there is none) and the whole response.
pub(crate) async fn send(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, text)
}

/// A `GET` with this `Authorization`, closing the connection after it.
pub(crate) fn get(target: &str, host: &str, authorization: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The status of a protocol v1 `GET /whoami` signed now with `key_id` and `key` (stamped with
/// the next second: after the second a demo's replay store started in, well within its skew).
pub(crate) async fn whoami_status(
    addr: SocketAddr,
    key_id: &str,
    key: &tower_hmac::SecretKey,
) -> u16 {
    let host = addr.to_string();
    let auth = tower_hmac_integration::authorization_now(
        key_id,
        key,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
    );
    send(addr, &get("/whoami", &host, &auth)).await.0
}

/// Waits until every instance answers `expected` for `key_id`'s `GET /whoami` (panics after
/// [`PATIENCE`]).
pub(crate) async fn on_every_instance(
    addrs: &[SocketAddr],
    key_id: &str,
    key: &tower_hmac::SecretKey,
    expected: u16,
) {
    let deadline = Instant::now() + PATIENCE;
    on_every_instance_before(
        addrs,
        key_id,
        key,
        expected,
        deadline,
        "the test's patience",
    )
    .await;
}

/// Waits until every instance answers `expected` for `key_id`'s `GET /whoami`; panics at
/// `deadline` (`what` says what it is).
pub(crate) async fn on_every_instance_before(
    addrs: &[SocketAddr],
    key_id: &str,
    key: &tower_hmac::SecretKey,
    expected: u16,
    deadline: Instant,
    what: &str,
) {
    for &addr in addrs {
        loop {
            let status = whoami_status(addr, key_id, key).await;
            if status == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{key_id} answered {status}, not {expected}, on {addr} until {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The demo's routes with its session routes (`demo_server::sessions::routes`) on `store`, the
/// access tokens signed with the Base64 `jwt_secret` as `TOWER_HMAC_DEMO_JWT_SECRET` makes them
/// (`demo_server::sessions::sessions`; a random key without one), the sessions on `clock` when
/// given (the system's otherwise), served in this process. For a network store opened with
/// a timeout of the test's: the demo's own (500 ms per operation) may not hold on a loaded
/// machine, and the demo would then answer `503 session_store_unavailable` (fail-closed) where
/// the test asserts what the store decided.
pub(crate) async fn serve_demo_with_sessions(
    store: impl tower_hmac_sessions::SessionStore,
    jwt_secret: Option<&str>,
    clock: Option<&TestClock>,
) -> InProcess {
    use demo_server::sessions::{DEMO_AUDIENCE, DEMO_ISSUER, DEMO_KID};
    use tower_hmac_sessions::SigningKeys;
    let keys = match jwt_secret {
        Some(text) => {
            SigningKeys::new(DEMO_KID, tower_hmac::SecretKey::from_base64(text).unwrap()).unwrap()
        }
        None => SigningKeys::generate(DEMO_KID).unwrap(),
    };
    let mut sessions = tower_hmac_sessions::Sessions::new(
        keys,
        store,
        tower_hmac_sessions::SessionConfig::new(DEMO_ISSUER, DEMO_AUDIENCE),
    );
    if let Some(clock) = clock {
        sessions = sessions.with_clock(clock.clone());
    }
    sessions.ping().await.unwrap();
    let routes = demo_server::sessions::routes(Arc::new(sessions)).unwrap();
    let (listener, addr) = listener().await;
    let settings = demo_server::Settings::default();
    let registry = demo_server::demo_registry().unwrap();
    let store = demo_server::replay_store(&settings).unwrap();
    let layer = demo_server::layer(registry, addr, &settings, &store).unwrap();
    InProcess {
        addr,
        task: tokio::spawn(demo_server::serve_all(
            listener,
            layer,
            Some(routes),
            None,
            std::future::pending(),
        )),
    }
}
