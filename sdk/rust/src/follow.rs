//! Following `GET /api/v1/keys/events`: each key event drops that key's answers from the
//! cache, a reset drops them all, and while the stream is down the cache is not used.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::Value;
use uuid::Uuid;

use crate::Keyward;

/// The longest wait before connecting again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The first wait before connecting again.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest event accepted; the server's are a few hundred bytes.
const MAX_EVENT: usize = 64 * 1024;

impl Keyward {
    /// Follows the server's key event stream with `stream_key`, a key holding
    /// `api_keys:read` in the organization whose keys this client verifies, until
    /// [`Keyward::stop_following`]. Reconnects on its own, resuming after the last event;
    /// the cache is used only while the stream is open.
    pub fn follow(&self, stream_key: impl Into<String>) {
        let stream_key = stream_key.into();
        // Held weakly between connections: once every clone is dropped, it ends.
        let weak = std::sync::Arc::downgrade(&self.0);
        let task = tokio::spawn(async move {
            let mut last_event: Option<String> = None;
            let mut backoff = FIRST_BACKOFF;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let client = Keyward(inner);
                match client.read_stream(&stream_key, &mut last_event).await {
                    Ok(()) => backoff = FIRST_BACKOFF,
                    Err(e) => tracing::warn!(error = %e, "the Keyward key event stream failed"),
                }
                // Down: nothing is served from memory until the stream is open again.
                client.forget_all();
                client.set_following(false);
                drop(client);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
        let mut slot = self.0.follower.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = slot.replace(task.abort_handle()) {
            previous.abort();
        }
    }

    /// Stops following the stream; the cache is no longer used.
    pub fn stop_following(&self) {
        self.0.abort_follower();
        self.forget_all();
        self.set_following(false);
    }

    /// Reads the stream until it ends.
    async fn read_stream(
        &self,
        stream_key: &str,
        last_event: &mut Option<String>,
    ) -> Result<(), crate::Error> {
        let mut request = self
            .0
            .http
            .get(format!("{}/api/v1/keys/events", self.0.base))
            .bearer_auth(stream_key)
            // The stream stays open: no whole-request timeout.
            .timeout(Duration::from_secs(u64::from(u32::MAX)));
        if let Some(id) = last_event.as_deref() {
            request = request.header("last-event-id", id);
        }
        let mut response = request.send().await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            return Err(crate::Error::Unexpected { status, body });
        }
        self.set_following(true);
        let mut buffer = String::new();
        // A heartbeat comes every 15 seconds: a stream silent for much longer is dead.
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(45), response.chunk())
            .await
            .map_err(|_| crate::Error::Unexpected {
                status: 200,
                body: "the key event stream went silent".into(),
            })??
        {
            for block in take_events(&mut buffer, &String::from_utf8_lossy(&chunk)) {
                if !self.apply(&block, last_event) {
                    return Ok(());
                }
            }
            if buffer.len() > MAX_EVENT {
                return Err(crate::Error::Unexpected {
                    status: 200,
                    body: "an event longer than any Keyward sends".into(),
                });
            }
        }
        Ok(())
    }

    /// Applies one event; false when the server ended the stream.
    fn apply(&self, block: &str, last_event: &mut Option<String>) -> bool {
        let Some(StreamEvent { id, event, data }) = StreamEvent::parse(block) else {
            // A heartbeat.
            return true;
        };
        let event = event.as_str();
        let key_id = data["key_id"]
            .as_str()
            .and_then(|id| id.parse::<Uuid>().ok());
        match (event, key_id) {
            ("stream.ended", _) => return false,
            (kind, Some(key)) if kind.starts_with("key.") => self.forget_key(key),
            // A reset, or anything this client does not know: drop everything.
            _ => self.reset(),
        }
        // Counted once applied: whoever waits on the news finds the cache as it now is.
        self.0.events.fetch_add(1, Ordering::Relaxed);
        self.0.news.send_modify(|n| *n = n.wrapping_add(1));
        if id.is_some() {
            *last_event = id;
        }
        true
    }
}

/// One server-sent event of the key event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The event id, to resume after with `Last-Event-ID`.
    pub id: Option<String>,
    /// `key.revoked`, `key.disabled`, `key.updated`, `keys.reset` or `stream.ended`.
    pub event: String,
    /// Its JSON data (`null` when there is none that parses).
    pub data: Value,
}

impl StreamEvent {
    /// Reads one event's lines; `None` for a comment (a heartbeat).
    pub fn parse(block: &str) -> Option<Self> {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        (!event.is_empty()).then(|| Self {
            id,
            event,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        })
    }
}

/// Adds `chunk` to `buffer` and takes out every complete event (its lines, LF-ended).
/// Lines may end in CRLF or CR as well as LF; a CR ending the buffer stays until the next
/// chunk, which may begin with its LF.
pub fn take_events(buffer: &mut String, chunk: &str) -> Vec<String> {
    buffer.push_str(chunk);
    let held_cr = buffer.ends_with('\r');
    if held_cr {
        buffer.pop();
    }
    *buffer = buffer.replace("\r\n", "\n").replace('\r', "\n");
    let mut events = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        events.push(buffer.drain(..end + 2).collect());
    }
    if held_cr {
        buffer.push('\r');
    }
    events
}

#[cfg(test)]
mod tests {
    use super::take_events;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut buffer = String::new();
        let chunks = [
            "id: 1\r",
            "\nevent: key.revoked\r\ndata: {}\r\n\r",
            "\n: beat\n\nid: 2\rev",
            "ent: keys.reset\r\r",
            "\n",
        ];
        let events: Vec<String> = chunks
            .iter()
            .flat_map(|c| take_events(&mut buffer, c))
            .collect();
        assert_eq!(
            events,
            [
                "id: 1\nevent: key.revoked\ndata: {}\n\n",
                ": beat\n\n",
                "id: 2\nevent: keys.reset\n\n"
            ]
        );
        assert!(buffer.is_empty(), "{buffer:?}");
    }
}
