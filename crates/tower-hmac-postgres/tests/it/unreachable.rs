//! Issue 25, item 8: an id the registry does not hold, asked while the database cannot be
//! reached, is the registry's error (the layer answers `503 key_store_unavailable`) from the
//! very first request of the outage — never `unknown_key` while nothing has noticed the outage
//! yet. Through a proxy the test owns: frozen (connections left open, bytes held: a host gone
//! silent, which nothing notices by itself) and cut (every connection closed, new ones refused).

use std::sync::atomic::AtomicUsize;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    /// Bytes are read and held, nothing is closed.
    Frozen,
    /// Every connection closed, new ones closed as they come.
    Cut,
}

/// A TCP proxy to the machine's PostgreSQL that the test switches between [`Mode`]s.
struct Switch {
    port: u16,
    mode: Arc<watch::Sender<Mode>>,
    live: Arc<AtomicUsize>,
}

impl Switch {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(watch::channel(Mode::Open).0);
        let live = Arc::new(AtomicUsize::new(0));
        let (m, l) = (mode.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if *m.borrow() == Mode::Cut {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else {
                    continue;
                };
                l.fetch_add(1, Ordering::SeqCst);
                let (m, l) = (m.clone(), l.clone());
                tokio::spawn(async move {
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, m.subscribe()),
                        pump(server_read, client_write, m.subscribe()),
                    );
                    l.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { port, mode, live }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Cuts, and returns once every connection through the proxy is closed.
    async fn cut(&self) {
        self.set(Mode::Cut);
        until("every proxied connection closed", async || {
            self.live.load(Ordering::SeqCst) == 0
        })
        .await;
    }

    fn url(&self) -> String {
        url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

/// Copies `from` to `to` while open; holds what it read while frozen; returns when cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.wait_for(|m| *m == Mode::Cut) => return,
        };
        match mode.wait_for(|m| *m != Mode::Frozen).await {
            Ok(m) if *m == Mode::Open => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_id_is_unavailable_from_the_first_request_of_an_outage() {
    let schema = Schema::new("first503");
    let admin = admin(&schema, Keyring::new(master())).await;
    admin.generate_key("partner", "key-a", "t").await.unwrap();
    let switch = Switch::start().await;
    // The lookup bound is the subject here: the default (500 ms), which ends a frozen lookup.
    let options = options(&schema).lookup_timeout(RegistryOptions::default().lookup_timeout);
    let registry = PostgresRegistry::connect(&switch.url(), Keyring::new(master()), options)
        .await
        .unwrap();
    // Open: unknown. A loaded machine may take longer than the bound once (that answer is the
    // error, as it must be), so this is asked until answered.
    until("unknown while up", async || {
        state(&registry, "key-b").await == Ok(None)
    })
    .await;

    // Frozen: nothing is closed, so nothing in the registry has noticed — the first lookup of an
    // id it does not hold must still be the error, not "unknown".
    switch.set(Mode::Frozen);
    let start = Instant::now();
    let first = registry.lookup("key-b").await;
    eprintln!("frozen: first lookup answered in {:?}", start.elapsed());
    assert!(first.is_err(), "frozen: {:?}", first.map(|r| r.is_some()));
    assert_eq!(
        state(&registry, "key-a").await,
        Ok(Some(KeyState::Active)),
        "a held key keeps working"
    );
    let start = Instant::now();
    assert_eq!(state(&registry, "key-c").await, Err(()), "and the next one");
    eprintln!("frozen: second lookup answered in {:?}", start.elapsed());

    switch.set(Mode::Open);
    until("unknown again once open", async || {
        state(&registry, "key-b").await == Ok(None)
    })
    .await;

    // Cut: connections closed and new ones refused; the first lookup is the error again.
    switch.cut().await;
    let start = Instant::now();
    let first = registry.lookup("key-d").await;
    eprintln!("cut: first lookup answered in {:?}", start.elapsed());
    assert!(first.is_err(), "cut: {:?}", first.map(|r| r.is_some()));
    assert_eq!(state(&registry, "key-a").await, Ok(Some(KeyState::Active)));

    // Back: a key added during the outage is found without a restart.
    admin.generate_key("partner", "key-e", "t").await.unwrap();
    switch.set(Mode::Open);
    until("recovered", async || {
        state(&registry, "key-e").await == Ok(Some(KeyState::Active))
    })
    .await;
}
