//! A real SMTP server for the email tests: aiosmtpd (Python) as its own process, storing
//! what it receives in a maildir the test reads. Its Python is `KEYWARD_TEST_SMTP_PYTHON`
//! (`.ci/run` makes one with aiosmtpd), else `python3`; without aiosmtpd the email tests
//! are skipped, except on CI, where they must run.

use std::{path::PathBuf, process::Stdio, time::Duration};

/// One message as the server stored it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The whole message, headers and body, as received.
    pub raw: String,
}

impl Mail {
    /// A header's value (the first), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\n\n").next().unwrap_or_default();
        let mut lines = head.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some((key, value)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                let mut value = value.trim().to_owned();
                while lines.peek().is_some_and(|l| l.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(lines.next().unwrap_or_default().trim());
                }
                return Some(value);
            }
        }
        None
    }

    /// The body, decoded when it was sent quoted-printable.
    pub fn body(&self) -> String {
        let raw = self.raw.replace("\r\n", "\n");
        let body = raw.split_once("\n\n").map(|(_, b)| b).unwrap_or_default();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.to_owned();
        }
        // RFC 2045 §6.7: `=` at a line's end joins it to the next; `=XX` is a byte.
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = joined.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The running server; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl SmtpServer {
    /// Starts one on a free loopback port, or `None` when aiosmtpd is not installed (off
    /// CI).
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    /// [`Self::start`] on the given port.
    pub async fn start_on(port: u16) -> Option<Self> {
        let python = std::env::var("KEYWARD_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let installed = tokio::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("CI").is_err(),
                "the email tests need aiosmtpd on CI (KEYWARD_TEST_SMTP_PYTHON)"
            );
            eprintln!("skipped: aiosmtpd is not installed for {python}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(&python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(Self { port, dir, child });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the SMTP server did not start on port {port}");
    }

    /// `smtp://127.0.0.1:<port>`, for `KEYWARD_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir").join("new")
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|raw| Mail { raw })
            .collect()
    }

    /// Waits (at most 10 s, for the sender's next pass) until `n` messages are in.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..100 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} emails never arrived; got {:?}", self.received());
    }

    /// Stops the server (a test of what happens while it is away).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
