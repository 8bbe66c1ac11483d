//! A TCP proxy in front of the test PostgreSQL that a test can cut and restore: the
//! server behind it sees its database go away (connections reset, new ones refused) and
//! come back, as in an outage or a failover, while the other tests keep theirs.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{net::TcpStream, task::AbortHandle};

/// A running proxy; it stops with the test's runtime.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl CuttableProxy {
    /// Proxies a new loopback port to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (accepting, kept) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    // Away: the connection is dropped at once, as a stopped server's is.
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                kept.lock().unwrap().push(link.abort_handle());
            }
        });
        Self { addr, open, links }
    }

    /// The proxy for the database of a PostgreSQL `url`, and that URL through it.
    pub fn for_url(url: &str) -> (Self, String) {
        let mut parsed = reqwest::Url::parse(url).unwrap();
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = parsed.port().unwrap_or(5432);
        let upstream = format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("127.0.0.1:{port}").parse())
            .unwrap();
        let proxy = Self::start(upstream);
        parsed.set_host(Some("127.0.0.1")).unwrap();
        parsed.set_port(Some(proxy.addr.port())).unwrap();
        (proxy, parsed.to_string())
    }

    /// Takes the database away: every open connection is cut, new ones are dropped.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Brings it back.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
