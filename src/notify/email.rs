//! Email over SMTP (lettre): STARTTLS, implicit TLS, or plain (local relays and tests), with
//! optional authentication; a multipart message with plain text and HTML.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};

use super::settings::{ChannelSettings, SmtpTls, read_secret};
use super::{DIGEST_LIST, Message, SendError, actor_line, title, value_text};

/// A configured SMTP channel.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    host: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Email({})", self.host)
    }
}

impl Email {
    /// Builds the transport; errors name the setting, never the password.
    pub fn new(name: &str, s: &ChannelSettings) -> Result<Self, String> {
        let host = s
            .smtp_host
            .clone()
            .ok_or_else(|| format!("channel '{name}': email needs `smtp_host`"))?;
        let from: Mailbox = s
            .from
            .as_deref()
            .ok_or_else(|| format!("channel '{name}': email needs `from`"))?
            .parse()
            .map_err(|e| format!("channel '{name}': `from` is not an address: {e}"))?;
        if s.to.is_empty() {
            return Err(format!("channel '{name}': email needs `to: [addresses]`"));
        }
        let to =
            s.to.iter()
                .map(|t| {
                    t.parse::<Mailbox>()
                        .map_err(|e| format!("channel '{name}': `to` address '{t}': {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
        let mut b = match s.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(|e| format!("channel '{name}': SMTP host '{host}': {e}"))?
                .port(s.smtp_port.unwrap_or(587)),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .map_err(|e| format!("channel '{name}': SMTP host '{host}': {e}"))?
                .port(s.smtp_port.unwrap_or(465)),
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(s.smtp_port.unwrap_or(25)),
        };
        b = b.timeout(Some(s.timeout()));
        if let Some(user) = &s.username {
            let pass = read_secret(
                name,
                "SMTP password",
                s.password_env.as_deref(),
                s.password_file.as_deref(),
            )?
            .ok_or_else(|| {
                format!("channel '{name}': `username` needs `password_env` or `password_file`")
            })?;
            b = b.credentials(Credentials::new(user.clone(), pass));
        }
        Ok(Email {
            transport: b.build(),
            from,
            to,
            host,
        })
    }

    /// Sends one message.
    pub async fn send(&self, msg: &Message) -> Result<(), SendError> {
        let (subject, text, html) = render(msg);
        let mut mb = Mail::builder().from(self.from.clone()).subject(subject);
        for t in &self.to {
            mb = mb.to(t.clone());
        }
        let mail = mb
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::permanent(format!("building the email: {e}")))?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let permanent = e.is_permanent();
                let m = format!("SMTP {}: {e}", self.host);
                Err(if permanent {
                    SendError::permanent(m)
                } else {
                    SendError::retry(m)
                })
            }
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Subject, plain text and HTML for a message.
#[must_use]
pub fn render(msg: &Message) -> (String, String, String) {
    let (a, repeats, resolved) = match msg {
        Message::Alert { alert, repeats, .. } => (alert, *repeats, false),
        Message::Resolve { alert, .. } => (alert, 0, true),
        Message::Digest { alerts } => {
            let subject = format!(
                "[tfdrift] {} drift alerts held back by the rate limit",
                alerts.len()
            );
            let names: Vec<String> = alerts.iter().take(DIGEST_LIST).map(title).collect();
            let text = format!("{subject}\n\n{}\n", names.join("\n"));
            let items: String = names
                .iter()
                .map(|n| format!("<li>{}</li>", esc(n)))
                .collect();
            let html = format!("<h2>{}</h2><ul>{items}</ul>", esc(&subject));
            return (subject, text, html);
        }
    };
    let note = match msg {
        Message::Alert { drift, .. } | Message::Resolve { drift, .. } => drift.as_ref(),
        Message::Digest { .. } => None,
    };
    let subject = if resolved {
        format!("[tfdrift] {}", super::resolved_title(a, note))
    } else {
        format!("[tfdrift] {}", title(a))
    };
    let address = a.resource.address.as_deref().unwrap_or("(unmanaged)");
    let mut text = format!(
        "{subject}\n\nResource: {address} ({} {})\nWho: {}\nEvent: {} ({})\nTime: {}\n",
        a.resource.rtype,
        a.resource.id,
        actor_line(a),
        a.event.name,
        a.event.service,
        a.time.to_rfc3339()
    );
    let mut html = format!(
        "<h2>{}</h2><p><b>Resource</b>: <code>{}</code> ({} <code>{}</code>)<br><b>Who</b>: {}<br><b>Event</b>: {} ({})</p>",
        esc(&subject),
        esc(address),
        esc(&a.resource.rtype),
        esc(&a.resource.id),
        esc(&actor_line(a)),
        esc(&a.event.name),
        esc(&a.event.service)
    );
    if !a.diffs.is_empty() {
        text.push_str("\nChanges:\n");
        html.push_str("<table border=\"1\" cellpadding=\"4\"><tr><th>Attribute</th><th>State</th><th>Observed</th></tr>");
        for d in &a.diffs {
            let (st, ob) = (value_text(&d.state), value_text(&d.observed));
            text.push_str(&format!("  {}: {st} -> {ob}\n", d.path));
            html.push_str(&format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&d.path),
                esc(&st),
                esc(&ob)
            ));
        }
        html.push_str("</table>");
    }
    if !a.remediation.is_empty() {
        text.push_str("\nRemediation:\n");
        html.push_str("<h3>Remediation</h3><ul>");
        for r in &a.remediation {
            text.push_str(&format!("  {r}\n"));
            html.push_str(&format!("<li><code>{}</code></li>", esc(r)));
        }
        html.push_str("</ul>");
    }
    if let Some(rb) = &a.runbook {
        text.push_str(&format!("\nRunbook: {rb}\n"));
        html.push_str(&format!("<p><b>Runbook</b>: {}</p>", esc(rb)));
    }
    if repeats > 0 {
        text.push_str(&format!(
            "\nSeen {repeats} more time(s) since the last notification.\n"
        ));
        html.push_str(&format!(
            "<p>Seen {repeats} more time(s) since the last notification.</p>"
        ));
    }
    if let Some(n) = note {
        let line = super::drift_line(n);
        text.push_str(&format!("\n{line}\n"));
        html.push_str(&format!("<p>{}</p>", esc(&line)));
    }
    text.push_str(&format!("\nAlert id: {}\n", a.id));
    html.push_str(&format!("<p><small>Alert id {}</small></p>", esc(&a.id)));
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{DriftNote, Reason};

    #[test]
    fn a_drift_resolution_says_how_and_names_the_drift() {
        let a = super::super::sample_alert();
        let note = DriftNote {
            event: "drift.resolved".into(),
            id: "drf-0123".into(),
            episode: 1,
            occurrences: 3,
            attribute: "ingress".into(),
            first_seen: a.time,
            reason: Some(Reason::Reverted),
            resolved_by: Some("bob".into()),
        };
        let (subject, text, html) = render(&Message::Resolve {
            alert: Box::new(a.clone()),
            drift: Some(note),
        });
        assert!(
            subject.starts_with("[tfdrift] Resolved (reverted by bob): HIGH"),
            "{subject}"
        );
        assert!(
            text.contains("Drift drf-0123") && text.contains("resolved: reverted by bob"),
            "{text}"
        );
        assert!(html.contains("drf-0123"));
        // An acknowledgement's resolve (no drift) keeps the plain subject.
        let (subject, _, _) = render(&Message::Resolve {
            alert: Box::new(a),
            drift: None,
        });
        assert!(subject.starts_with("[tfdrift] Resolved: HIGH"), "{subject}");
    }
}
