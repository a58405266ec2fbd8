//! `tfdrift notify test`, `tfdrift notify retry`, and `tfdrift alerts ack|resolve` (the
//! headless way to acknowledge, which resolves PagerDuty incidents through the outbox).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tfdrift::notify::{Channels, Message, sample_alert};
use tfdrift::store::{NOTE_ACK, NOTE_RESOLVED};

use crate::cli::{AlertsCommand, NotifyCommand, ProfileArgs};

pub fn run(cmd: &NotifyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NotifyCommand::Test { profile, channel } => test(profile, channel.as_deref()),
        NotifyCommand::Retry { profile, channel } => retry(profile, channel.as_deref()),
    }
}

fn load(p: &ProfileArgs) -> anyhow::Result<tfdrift::config::Profile> {
    let Some(name) = &p.profile else {
        anyhow::bail!("name a profile: tfdrift notify test --profile NAME");
    };
    Ok(tfdrift::config::load_profile(p.config.as_deref(), name)?)
}

fn test(p: &ProfileArgs, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let profile = load(p)?;
    let mut settings = profile.notify.clone();
    if let Some(c) = only {
        if !settings.channels.contains_key(c) {
            anyhow::bail!(
                "no channel '{c}' under notify.channels; configured: {}",
                settings
                    .channels
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        settings.channels.retain(|k, _| k == c);
        settings.defaults.retain(|k| k == c);
    }
    if settings.channels.is_empty() {
        anyhow::bail!(
            "the profile configures no notification channels (add `notify: {{channels: …}}`)"
        );
    }
    let mut failed = false;
    // Build each channel alone so one misconfigured channel does not hide the others' results.
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    for (name, cs) in &settings.channels {
        let mut one = settings.clone();
        one.channels.retain(|k, _| k == name);
        one.defaults.clear();
        let channels = match Channels::from_settings(&one) {
            Ok(c) => Arc::new(c),
            Err(errs) => {
                println!(
                    "{name:<20} {:<10} CONFIG ERROR  {}",
                    format!("{:?}", cs.kind).to_lowercase(),
                    errs.join("; ")
                );
                failed = true;
                continue;
            }
        };
        let Some(ch) = channels.by_name.get(name).cloned() else {
            continue;
        };
        let msg = Message::Alert {
            alert: Box::new(sample_alert()),
            repeats: 0,
            drift: None,
        };
        let res = rt.block_on(async { ch.send(&msg).await });
        match res {
            Ok(()) => println!(
                "{name:<20} {:<10} ok",
                format!("{:?}", cs.kind).to_lowercase()
            ),
            Err(e) => {
                failed = true;
                println!(
                    "{name:<20} {:<10} FAILED  {e}",
                    format!("{:?}", cs.kind).to_lowercase()
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn retry(p: &ProfileArgs, channel: Option<&str>) -> anyhow::Result<ExitCode> {
    let profile = load(p)?;
    let settings = profile.store.clone().unwrap_or_default();
    let store = super::open_store(&settings)?;
    let n = store.outbox_retry_failed(channel, chrono::Utc::now())?;
    println!("re-queued {n} failed notification(s); a running `tfdrift tui --no-ui` delivers them");
    Ok(ExitCode::SUCCESS)
}

pub fn alerts(cmd: &AlertsCommand) -> anyhow::Result<ExitCode> {
    let (a, note, verb) = match cmd {
        AlertsCommand::Ack(a) => (a, NOTE_ACK, "acknowledged"),
        AlertsCommand::Resolve(a) => (a, NOTE_RESOLVED, "resolved"),
    };
    let Some(name) = &a.profile.profile else {
        anyhow::bail!(
            "name a profile: tfdrift alerts {} ID --profile NAME",
            &verb[..verb.len() - 1]
        );
    };
    let profile = tfdrift::config::load_profile(a.profile.config.as_deref(), name)?;
    let settings = profile.store.clone().unwrap_or_default();
    let store = super::open_store(&settings)?;
    if store.alert(&a.id)?.is_none() {
        anyhow::bail!(
            "no alert '{}' in the store of profile '{name}' (ids are the `id` field of the alert JSON lines)",
            a.id
        );
    }
    let who = a
        .who
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let resolves = |store: &dyn tfdrift::store::Store| -> anyhow::Result<usize> {
        Ok(store
            .outbox_list(tfdrift::store::OutboxStatus::Pending, 100_000)?
            .into_iter()
            .filter(|e| {
                e.alert_id == a.id
                    && matches!(
                        serde_json::from_str(&e.payload),
                        Ok(tfdrift::notify::Envelope::Resolve { .. })
                    )
            })
            .count())
    };
    let before = resolves(store.as_ref())?;
    store.ack(
        &tfdrift::store::Target::Alert(a.id.clone()),
        &who,
        Some(note),
        chrono::Utc::now(),
    )?;
    let queued = resolves(store.as_ref())?.saturating_sub(before);
    println!(
        "{} {verb} by {who}; {queued} resolve notification(s) queued (a running `tfdrift tui --no-ui` delivers them)",
        a.id
    );
    Ok(ExitCode::SUCCESS)
}
