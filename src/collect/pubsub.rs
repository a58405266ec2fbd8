//! GCP Cloud Audit Logs from a Pub/Sub subscription (a log sink's), `FORMATS.md` §5.4.
//!
//! The official `google-cloud-pubsub` subscriber does the streaming pull and keeps the leases
//! of received messages alive. Messages are gathered into small batches (one `LogEntry` per
//! message) and handed to the engine as a [`SourceItem::Batch`]; they are acknowledged only
//! after the engine answered that every entry went through it and its alerts are recorded in
//! the store. A store failure nacks the batch, so Pub/Sub redelivers it, and redelivered
//! entries never alert twice (the event id is the entry's `insertId`, deduplicated by the
//! engine and the store).
//!
//! Data that is not JSON or not an audit `LogEntry` can never succeed: it is counted as
//! unparseable (origin `subscription#message_id`) and acknowledged with its batch, rather
//! than redelivered for ever. With a dead-letter policy on the subscription, a message on its
//! [`POISON_ATTEMPTS`]th delivery or later is reported as poison.
//!
//! With `endpoint_url` set to an `http://` address (the emulator) the client connects in
//! plaintext with anonymous credentials; otherwise it uses Application Default Credentials.

use std::time::Duration;

use chrono::{DateTime, Utc};
use google_cloud_auth::credentials::anonymous::Builder as Anonymous;
use google_cloud_pubsub::client::{Subscriber, SubscriptionAdmin};
use google_cloud_pubsub::model::Message;
use google_cloud_pubsub::subscriber::handler::Handler;
use google_cloud_pubsub::subscriber::{MessageStream, ShutdownBehavior};
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::health::HealthRegistry;
use super::{event_summary, normalize_bytes};
use crate::pipeline::SourceItem;

const KIND: &str = "pubsub";

/// Messages per batch handed to the engine.
const MAX_BATCH: usize = 256;
/// How long a batch waits for more messages after its first one.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Delivery attempt (known only with a dead-letter policy) from which a message is reported
/// as poison: the default and smallest `maxDeliveryAttempts` of a dead-letter policy.
pub const POISON_ATTEMPTS: i32 = 5;
/// Without messages for this long, the subscription is looked up to refresh `connected`.
const PROBE_EVERY: Duration = Duration::from_secs(30);
/// First reconnection delay; doubled per failed attempt up to [`BACKOFF_MAX`] (with jitter).
const BACKOFF_START: Duration = Duration::from_millis(200);
/// Longest reconnection delay.
const BACKOFF_MAX: Duration = Duration::from_mins(1);

fn default_max_outstanding() -> i64 {
    1000
}
fn default_ack_deadline() -> u64 {
    60
}

/// `sources: [{type: pubsub, …}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PubsubSettings {
    /// Full subscription name, `projects/<project>/subscriptions/<name>`.
    #[serde(deserialize_with = "subscription_name")]
    pub subscription: String,
    /// Custom endpoint; `http://host:port` (the emulator) means plaintext and anonymous
    /// credentials. Default: `https://pubsub.googleapis.com` with Application Default
    /// Credentials.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Flow control: messages leased but not yet acknowledged (default 1000); the server
    /// stops sending beyond it, so a slow pipeline slows the subscription.
    #[serde(default = "default_max_outstanding")]
    pub max_outstanding_messages: i64,
    /// Lease extension asked for while a message is processed, seconds (10-600, default 60).
    #[serde(default = "default_ack_deadline")]
    pub ack_deadline_seconds: u64,
}

/// Checks the `projects/P/subscriptions/S` form when the config is read, so a short name
/// fails at startup with the fix instead of at the first pull.
fn subscription_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if valid_subscription(&s) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "subscription '{s}' must be the full name `projects/<project>/subscriptions/<name>`"
        )))
    }
}

/// `projects/<project>/subscriptions/<name>` with both parts non-empty.
#[must_use]
pub fn valid_subscription(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    matches!(parts.as_slice(), ["projects", p, "subscriptions", n] if !p.is_empty() && !n.is_empty())
}

/// The items of one message: its `data` normalised (one `LogEntry`, or whatever shape the
/// file reader understands), or one unparseable item naming the message when it is empty.
#[must_use]
pub fn message_items(subscription: &str, message_id: &str, data: &[u8]) -> Vec<SourceItem> {
    let origin = format!("{subscription}#{message_id}");
    if data.iter().all(u8::is_ascii_whitespace) {
        return vec![SourceItem::Unparseable {
            origin,
            reason: "empty Pub/Sub message data (expected a LogEntry as JSON)".into(),
        }];
    }
    normalize_bytes(&origin, data)
}

/// A message's publish time.
#[must_use]
pub fn publish_time(m: &Message) -> Option<DateTime<Utc>> {
    let t = m.publish_time.as_ref()?;
    DateTime::from_timestamp(t.seconds(), u32::try_from(t.nanos()).ok()?)
}

/// Delay before reconnection attempt `attempt` (1-based): [`BACKOFF_START`] doubling up to
/// [`BACKOFF_MAX`] (`crate::backoff`), with "equal jitter" (between half and all of it) so that
/// many instances reconnecting after an outage do not retry in step.
#[must_use]
pub fn reconnect_delay(attempt: u32, seed: u64) -> Duration {
    let d = crate::backoff::exponential(BACKOFF_START, attempt, BACKOFF_MAX);
    d.mul_f64(0.5 + 0.5 * crate::backoff::jitter(seed))
}

/// How a stream ended.
enum End {
    Cancelled,
    Failed(String),
}

/// The Pub/Sub source.
pub struct PubsubSource {
    settings: PubsubSettings,
}

impl PubsubSource {
    /// A source for `settings`; clients are built when it runs.
    #[must_use]
    pub fn new(settings: PubsubSettings) -> Self {
        Self { settings }
    }

    fn plaintext(&self) -> bool {
        self.settings
            .endpoint_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"))
    }

    async fn subscriber(&self) -> Result<Subscriber, String> {
        let mut b = Subscriber::builder();
        if let Some(url) = &self.settings.endpoint_url {
            b = b.with_endpoint(url.clone());
        }
        if self.plaintext() {
            b = b.with_credentials(Anonymous::new().build());
        }
        b.build().await.map_err(|e| {
            format!("Pub/Sub client: {e} (credentials come from Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`)")
        })
    }

    async fn admin(&self) -> Result<SubscriptionAdmin, String> {
        let mut b = SubscriptionAdmin::builder();
        if let Some(url) = &self.settings.endpoint_url {
            b = b.with_endpoint(url.clone());
        }
        if self.plaintext() {
            b = b.with_credentials(Anonymous::new().build());
        }
        b.build()
            .await
            .map_err(|e| format!("Pub/Sub admin client: {e}"))
    }

    /// Looks the subscription up: `Ok` when the service answered (a permission error means
    /// it is reachable; `roles/pubsub.subscriber` alone may not read subscriptions), an
    /// error naming the fix otherwise.
    async fn probe(&self, admin: &SubscriptionAdmin) -> Result<(), String> {
        let sub = &self.settings.subscription;
        match admin.get_subscription().set_subscription(sub).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status_code() == Some(403) => Ok(()),
            Err(e) if e.http_status_code() == Some(404) => Err(format!(
                "subscription {sub} not found: create it (`gcloud pubsub subscriptions create`) on the log sink's topic, or fix `subscription`"
            )),
            Err(e) => Err(format!("looking up {sub}: {e}")),
        }
    }

    /// Pulls until `cancel`: reconnects with backoff after stream errors, acknowledges each
    /// batch after the engine recorded it.
    pub async fn run(
        self,
        name: &str,
        tx: mpsc::Sender<SourceItem>,
        health: HealthRegistry,
        cancel: CancellationToken,
    ) {
        health.update(name, KIND, |_| {});
        // Failed attempts in a row; a stream that delivered something starts again at 1.
        let mut attempt = 0u32;
        loop {
            let clients = match self.subscriber().await {
                Ok(s) => self.admin().await.map(|a| (s, a)),
                Err(e) => Err(e),
            };
            let end = match clients {
                Ok((sub, admin)) => {
                    if let Err(e) = self.probe(&admin).await {
                        End::Failed(e)
                    } else {
                        health.ok(name, KIND);
                        let mut stream = sub
                            .subscribe(self.settings.subscription.clone())
                            .set_max_outstanding_messages(self.settings.max_outstanding_messages)
                            .set_max_lease_extension(Duration::from_secs(
                                self.settings.ack_deadline_seconds,
                            ))
                            .set_shutdown_behavior(ShutdownBehavior::NackImmediately)
                            .build();
                        let token = stream.shutdown_token();
                        let (end, delivered) = self
                            .consume(&mut stream, &admin, name, &tx, &health, &cancel)
                            .await;
                        if delivered {
                            // The stream worked: the next failure starts a fresh backoff
                            // (not after a mere lookup, or a stream refused at once would
                            // be retried every 200 ms for ever).
                            attempt = 0;
                        }
                        // Flushes the acknowledgements sent so far; the rest is nacked. The
                        // stream (and with it the streaming pull and its keepalive task) and
                        // the clients are dropped right after: a cancelled source keeps no
                        // connection to the service (`tests/live_pubsub.rs` checks the
                        // process's sockets).
                        token.shutdown().await;
                        drop(stream);
                        end
                    }
                }
                Err(e) => End::Failed(e),
            };
            attempt = attempt.saturating_add(1);
            let seed = u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_nanos(),
            );
            let delay = reconnect_delay(attempt, seed);
            match end {
                End::Cancelled => return,
                End::Failed(e) => {
                    tracing::warn!(source = %name, error = %e, retry_in = ?delay, "Pub/Sub stream failed; reconnecting");
                    health.error(name, KIND, &e);
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Reads batches off one stream until it fails or `cancel`; also says whether the stream
    /// delivered anything.
    async fn consume(
        &self,
        stream: &mut MessageStream,
        admin: &SubscriptionAdmin,
        name: &str,
        tx: &mpsc::Sender<SourceItem>,
        health: &HealthRegistry,
        cancel: &CancellationToken,
    ) -> (End, bool) {
        let mut delivered = false;
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return (End::Cancelled, delivered),
                n = stream.next() => Some(n),
                () = tokio::time::sleep(PROBE_EVERY) => None,
            };
            let first = match next {
                None => {
                    // Idle: check the service is still there (the stream retries silently).
                    match self.probe(admin).await {
                        Ok(()) => health.ok(name, KIND),
                        Err(e) => health.error(name, KIND, &e),
                    }
                    continue;
                }
                Some(None) => {
                    return (End::Failed("the streaming pull ended".into()), delivered);
                }
                Some(Some(Err(e))) => {
                    return (End::Failed(format!("streaming pull: {e}")), delivered);
                }
                Some(Some(Ok(m))) => m,
            };
            delivered = true;
            let mut batch = vec![first];
            let mut failure = None;
            let window = Instant::now() + BATCH_WINDOW;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(window, stream.next()).await {
                    Ok(Some(Ok(m))) => batch.push(m),
                    Ok(Some(Err(e))) => {
                        failure = Some(format!("streaming pull: {e}"));
                        break;
                    }
                    Ok(None) => {
                        failure = Some("the streaming pull ended".into());
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.process(batch, name, tx, health).await;
            if let Some(e) = failure {
                return (End::Failed(e), delivered);
            }
            if tx.is_closed() {
                return (End::Cancelled, delivered);
            }
        }
    }

    /// Hands one batch to the engine; acks on a clean acknowledgement, nacks otherwise.
    async fn process(
        &self,
        batch: Vec<(Message, Handler)>,
        name: &str,
        tx: &mpsc::Sender<SourceItem>,
        health: &HealthRegistry,
    ) {
        let sub = &self.settings.subscription;
        let mut items = Vec::with_capacity(batch.len());
        let mut newest_publish = None;
        let mut handlers = Vec::with_capacity(batch.len());
        for (m, h) in batch {
            if let Some(n) = h.delivery_attempt()
                && n >= POISON_ATTEMPTS
            {
                tracing::error!(source = %name, message_id = %m.message_id, attempts = n,
                    "Pub/Sub message keeps failing; the subscription's dead-letter policy decides when it leaves");
                health.update(name, KIND, |h| h.poison += 1);
            }
            items.extend(message_items(sub, &m.message_id, &m.data));
            newest_publish = newest_publish.max(publish_time(&m));
            handlers.push(h);
        }
        let (events, newest_event) = event_summary(&items);
        match super::send_batch(tx, items).await {
            Ok(ack) if ack.store_errors == 0 => {
                for h in handlers {
                    h.ack();
                }
                // Lag is measured from the publish time: how far behind the subscription is.
                health.events(name, KIND, events, newest_publish.or(newest_event));
            }
            Ok(ack) => {
                let n = handlers.len();
                for h in handlers {
                    h.nack();
                }
                let msg = format!(
                    "{} store errors; {n} messages nacked for redelivery",
                    ack.store_errors
                );
                tracing::warn!(source = %name, error = %msg, "Pub/Sub batch not recorded");
                health.error(name, KIND, &msg);
            }
            Err(e) => {
                for h in handlers {
                    h.nack();
                }
                tracing::warn!(source = %name, error = %e, "Pub/Sub batch not processed; nacked for redelivery");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reconnect_delay_doubles_with_jitter_up_to_the_cap() {
        for seed in [0, 1, 7, 1_000_003] {
            let first = reconnect_delay(1, seed);
            assert!(
                first >= BACKOFF_START / 2 && first <= BACKOFF_START,
                "{first:?}"
            );
            let third = reconnect_delay(3, seed);
            assert!(
                third >= BACKOFF_START * 2 && third <= BACKOFF_START * 4,
                "{third:?}"
            );
            let late = reconnect_delay(40, seed);
            assert!(late >= BACKOFF_MAX / 2 && late <= BACKOFF_MAX, "{late:?}");
        }
        // Jitter: two instances failing together do not retry in step.
        assert_ne!(reconnect_delay(5, 1), reconnect_delay(5, 2));
    }

    #[test]
    fn subscription_names() {
        assert!(valid_subscription("projects/p/subscriptions/s"));
        assert!(!valid_subscription("s"));
        assert!(!valid_subscription("projects//subscriptions/s"));
        assert!(!valid_subscription("projects/p/topics/s"));
        assert!(!valid_subscription("projects/p/subscriptions/s/x"));
    }

    #[test]
    fn settings_reject_short_names_and_default_the_rest() {
        let s: PubsubSettings =
            serde_json::from_str(r#"{"subscription":"projects/p/subscriptions/s"}"#).unwrap();
        assert_eq!(s.max_outstanding_messages, 1000);
        assert_eq!(s.ack_deadline_seconds, 60);
        assert!(s.endpoint_url.is_none());
        let e = serde_json::from_str::<PubsubSettings>(r#"{"subscription":"my-sub"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("projects/<project>/subscriptions/<name>"), "{e}");
    }

    #[test]
    fn profile_yaml_parses_and_a_short_name_fails_with_its_position() {
        let yaml = "profiles:\n  gcp:\n    sources:\n      - type: pubsub\n        subscription: projects/p/subscriptions/audit\n        endpoint_url: http://127.0.0.1:8085\n";
        let cfg = crate::config::parse_config("t.yaml", yaml).unwrap();
        let spec = &cfg.profiles["gcp"].sources[0];
        assert_eq!(spec.name(), "pubsub:projects/p/subscriptions/audit");
        let crate::collect::SourceSpec::Pubsub(p) = spec else {
            panic!("{spec:?}")
        };
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:8085"));
        let bad = yaml.replace("projects/p/subscriptions/audit", "audit");
        let e = crate::config::parse_config("t.yaml", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.yaml") && e.contains("subscriptions/<name>"),
            "{e}"
        );
        let unknown = yaml.replace("endpoint_url", "endpoint");
        assert!(crate::config::parse_config("t.yaml", &unknown).is_err());
    }

    #[test]
    fn message_items_name_the_message_when_unreadable() {
        let sub = "projects/p/subscriptions/s";
        let items = message_items(sub, "42", b"not json");
        assert!(
            matches!(&items[..], [SourceItem::Unparseable { origin, .. }] if origin.starts_with("projects/p/subscriptions/s#42")),
            "{items:?}"
        );
        let items = message_items(sub, "43", b"  ");
        assert!(
            matches!(&items[..], [SourceItem::Unparseable { origin, reason }] if origin == "projects/p/subscriptions/s#43" && reason.contains("empty")),
            "{items:?}"
        );
        let entry = br#"{"insertId":"abc","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.delete","resourceName":"projects/p/zones/z/instances/vm"},"timestamp":"2024-05-01T14:11:38Z"}"#;
        let items = message_items(sub, "44", entry);
        assert!(
            matches!(&items[..], [SourceItem::Event(ev)] if ev.id == "abc"),
            "{items:?}"
        );
    }
}
