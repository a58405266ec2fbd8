//! Falco-format JSON (what falcosidekick accepts, FORMATS.md §1.6): `rule`, `priority`,
//! `output`, non-empty `output_fields`, RFC 3339 `time`, `source: "tfdrift"`, `tags`.

use serde_json::{Map, Value, json};

use super::{Message, actor_line, title};
use crate::alert::{Alert, Severity};

/// Falco priority names.
#[must_use]
pub fn priority(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "Error",
        Severity::Medium => "Warning",
        Severity::Low => "Notice",
        Severity::Info => "Informational",
    }
}

fn event(a: &Alert, rule: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("tfdrift.alert_id".into(), json!(a.id));
    fields.insert("tfdrift.kind".into(), json!(a.kind.as_str()));
    fields.insert("tfdrift.resource.type".into(), json!(a.resource.rtype));
    fields.insert("tfdrift.resource.id".into(), json!(a.resource.id));
    fields.insert("tfdrift.resource.address".into(), json!(a.resource.address));
    fields.insert("tfdrift.event.name".into(), json!(a.event.name));
    fields.insert("tfdrift.actor".into(), json!(actor_line(a)));
    fields.insert("tfdrift.provider".into(), json!(a.provider));
    let mut tags = vec![
        "tfdrift".to_string(),
        a.provider.clone(),
        a.kind.as_str().to_string(),
    ];
    tags.extend(a.rules.iter().cloned());
    json!({
        "rule": rule,
        "priority": priority(a.severity),
        "output": format!("{} by {} ({})", title(a), actor_line(a), a.event.name),
        "output_fields": fields,
        "time": a.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "source": "tfdrift",
        "tags": tags,
        "hostname": "tfdrift",
    })
}

/// The Falco events for a message (a digest becomes one event per held-back alert).
#[must_use]
pub fn render(msg: &Message) -> Vec<Value> {
    match msg {
        Message::Alert { alert, .. } => {
            let rule = alert
                .rules
                .first()
                .cloned()
                .unwrap_or_else(|| format!("tfdrift {}", alert.kind.as_str()));
            vec![event(alert, &rule)]
        }
        // An acknowledgement is not an event; a drift's end is.
        Message::Resolve { drift: None, .. } => Vec::new(),
        Message::Resolve {
            alert,
            drift: Some(n),
        } => {
            let mut v = event(alert, "tfdrift drift resolved");
            v["priority"] = json!(priority(Severity::Info));
            v["output"] = json!(format!(
                "{} ({})",
                super::resolved_title(alert, Some(n)),
                super::drift_line(n)
            ));
            if let Some(f) = v["output_fields"].as_object_mut() {
                f.insert("tfdrift.drift.id".into(), json!(n.id));
                f.insert("tfdrift.drift.reason".into(), json!(n.reason));
                f.insert("tfdrift.drift.resolved_by".into(), json!(n.resolved_by));
            }
            vec![v]
        }
        Message::Digest { alerts } => alerts
            .iter()
            .map(|a| {
                event(
                    a,
                    &a.rules
                        .first()
                        .cloned()
                        .unwrap_or_else(|| format!("tfdrift {}", a.kind.as_str())),
                )
            })
            .collect(),
    }
}

/// Puts the delivery id (see [`super::jsonl`]) into an event's `output_fields` as
/// `tfdrift.delivery_id`, where Falco consumers keep custom fields.
pub fn with_delivery_id(event: &mut Value, id: &str) {
    if let Some(fields) = event
        .get_mut("output_fields")
        .and_then(Value::as_object_mut)
    {
        fields.insert("tfdrift.delivery_id".into(), json!(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidekick_required_fields() {
        let a = super::super::sample_alert();
        let v = &render(&Message::Alert {
            alert: Box::new(a),
            repeats: 0,
            drift: None,
        })[0];
        assert!(!v["rule"].as_str().unwrap().is_empty());
        assert_eq!(v["priority"], "Error");
        assert_eq!(v["source"], "tfdrift");
        assert!(!v["output_fields"].as_object().unwrap().is_empty());
        assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok());
        let mut v = v.clone();
        with_delivery_id(&mut v, "tfd-1/2");
        assert!(v.to_string().contains(r#""tfdrift.delivery_id":"tfd-1/2""#));
    }
}
