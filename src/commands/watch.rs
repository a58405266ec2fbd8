//! `tfdrift watch` (follow a daemon: alerts as their JSON lines, status changes as objects,
//! reconnecting and resuming from the cursor) and `tfdrift alerts ack|resolve --connect`
//! (act through the daemon's API; refusals exit 1 with the daemon's reason).

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};
use tfdrift::api::client::{Client, ClientError, ClientOptions, Update, WatchSession};
use tfdrift::api::convert::state_name;
use tfdrift::api::proto::{self as pb, watch_event::Item};

use crate::cli::{AlertsCommand, ConnectArgs, ProfileArgs, WatchArgs};

/// Client options from `--connect` (or the profile's `daemon:`), `--token-file`, `--ca-cert`.
pub(crate) fn options(c: &ConnectArgs, p: &ProfileArgs) -> anyhow::Result<ClientOptions> {
    if let Some(url) = &c.connect {
        return Ok(ClientOptions::new(
            url,
            c.token_file.as_deref(),
            None,
            c.ca_cert.as_deref(),
        )?);
    }
    let Some(name) = &p.profile else {
        anyhow::bail!(
            "name the daemon: --connect URL, or --profile P whose profile has `daemon: {{url: …}}`"
        );
    };
    let profile = tfdrift::config::load_profile(p.config.as_deref(), name)?;
    let Some(d) = profile.daemon else {
        anyhow::bail!(
            "profile '{name}' has no `daemon: {{url, token_env, ca_cert}}`: add it, or pass --connect URL"
        );
    };
    Ok(ClientOptions::new(
        &d.url,
        c.token_file.as_deref().or(d.token_file.as_deref()),
        d.token_env.as_deref(),
        c.ca_cert.as_deref().or(d.ca_cert.as_deref()),
    )?)
}

fn status_line(
    alert_id: &str,
    fingerprint: &str,
    s: Option<&pb::AlertStatus>,
    cursor: i64,
) -> Value {
    let s = s.cloned().unwrap_or_default();
    let mut v = json!({
        "type": "status",
        "alert_id": alert_id,
        "status": state_name(s.state),
        "who": s.who,
        "at": s.at,
        "note": s.note,
        "cursor": cursor,
    });
    if !fingerprint.is_empty() {
        v["fingerprint"] = json!(fingerprint);
    }
    if !s.snoozed_until.is_empty() {
        v["until"] = json!(s.snoozed_until);
    }
    v
}

fn human_alert(json_line: &str) -> String {
    let v: Value = serde_json::from_str(json_line).unwrap_or(Value::Null);
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    let resource = v
        .pointer("/resource/address")
        .and_then(Value::as_str)
        .map_or_else(
            || format!("{}:{}", s("/resource/type"), s("/resource/id")),
            str::to_string,
        );
    let actor = v
        .pointer("/actor/arn")
        .or_else(|| v.pointer("/actor/email"))
        .or_else(|| v.pointer("/actor/principal"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    format!(
        "{} ALERT {} {} {resource} by {actor} [{}]",
        s("/time"),
        s("/severity"),
        s("/kind"),
        s("/id")
    )
}

/// Prints one stream item; `Err` only when stdout is gone.
fn print(ev: &pb::WatchEvent, as_json: bool, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let Some(item) = &ev.item else { return Ok(()) };
    match item {
        Item::Snapshot(s) => {
            if s.reset {
                let marker = json!({"type": "reset", "cursor": s.cursor, "requested_since": s.requested_since,
                    "reason": "the cursor is older than the daemon's retention (or from another store): what happened in between cannot be replayed; a fresh snapshot follows"});
                if as_json {
                    writeln!(out, "{marker}")?;
                } else {
                    writeln!(
                        out,
                        "RESET: cursor {} is beyond the daemon's retention; fresh snapshot at cursor {}",
                        s.requested_since, s.cursor
                    )?;
                }
            }
            for d in &s.open_drifts {
                if as_json {
                    let line = json!({"type": "drift", "change": "snapshot", "drift_id": d.id,
                        "status": d.status, "address": d.address, "attribute": d.attribute,
                        "severity": d.severity, "occurrences": d.occurrences,
                        "first_seen": d.first_seen, "last_seen": d.last_seen, "cursor": s.cursor});
                    writeln!(out, "{line}")?;
                }
            }
            for a in s.alerts.iter().rev() {
                if as_json {
                    writeln!(out, "{}", a.json)?;
                } else {
                    writeln!(out, "{}", human_alert(&a.json))?;
                }
                let st = a.status.as_ref();
                if st.is_some_and(|st| st.state != pb::AlertState::New as i32) {
                    let line = status_line(&a.id, "", st, s.cursor);
                    if as_json {
                        writeln!(out, "{line}")?;
                    } else {
                        writeln!(
                            out,
                            "  status {} by {}",
                            line["status"].as_str().unwrap_or("-"),
                            line["who"].as_str().unwrap_or("-")
                        )?;
                    }
                }
            }
        }
        Item::Alert(a) => {
            if as_json {
                writeln!(out, "{}", a.json)?;
            } else {
                writeln!(out, "{}", human_alert(&a.json))?;
            }
        }
        Item::Status(c) => {
            let line = status_line(&c.alert_id, &c.fingerprint, c.status.as_ref(), ev.cursor);
            if as_json {
                writeln!(out, "{line}")?;
            } else {
                writeln!(
                    out,
                    "{} STATUS {} -> {} by {}{}",
                    line["at"].as_str().unwrap_or("-"),
                    if c.alert_id.is_empty() {
                        &c.fingerprint
                    } else {
                        &c.alert_id
                    },
                    line["status"].as_str().unwrap_or("-"),
                    line["who"].as_str().unwrap_or("-"),
                    line["note"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                )?;
            }
        }
        Item::Other(o) => {
            if as_json {
                writeln!(
                    out,
                    "{}",
                    json!({"type": o.kind, "ref": o.r#ref, "cursor": ev.cursor})
                )?;
            }
        }
        Item::Drift(c) => {
            let d = c.drift.clone().unwrap_or_default();
            if as_json {
                let line = json!({"type": "drift", "change": c.kind, "drift_id": d.id,
                    "status": d.status, "reason": c.reason, "who": c.who, "at": c.at,
                    "note": c.note, "alert_id": c.alert_id, "address": d.address,
                    "attribute": d.attribute, "severity": d.severity,
                    "occurrences": d.occurrences, "cursor": ev.cursor});
                writeln!(out, "{line}")?;
            } else {
                let what = if d.address.is_empty() {
                    &d.resource_id
                } else {
                    &d.address
                };
                writeln!(
                    out,
                    "{} DRIFT {} {}{}{} {}{}{}",
                    c.at,
                    c.kind,
                    what,
                    if d.attribute.is_empty() { "" } else { "." },
                    d.attribute,
                    d.status,
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.reason)
                    },
                    if c.who.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", c.who)
                    },
                )?;
            }
        }
        Item::Lagged(l) => {
            eprintln!(
                "watch: lagged: this watcher fell behind the daemon (its buffer filled) at cursor {} while the newest is {}; resuming from cursor {} (nothing is lost)",
                l.cursor, l.newest, l.cursor
            );
        }
        Item::Stats(_) => {}
    }
    out.flush()
}

fn save_cursor(path: &std::path::Path, cursor: i64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{cursor}\n"))?;
    std::fs::rename(tmp, path)
}

pub fn run(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let opts = options(&args.connect, &args.profile)?;
    let url = opts.url.clone();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let code: anyhow::Result<ExitCode> = rt.block_on(async move {
        let mut session = WatchSession::new(opts, args.since.unwrap_or(0));
        let stdout = std::io::stdout();
        loop {
            let update = tokio::select! {
                u = session.next() => u,
                _ = tokio::signal::ctrl_c() => return Ok::<ExitCode, anyhow::Error>(ExitCode::SUCCESS),
            };
            match update {
                Update::Connected(h) => eprintln!(
                    "watch: connected to {url}: tfdrift {} (protocol {}), profile '{}', up {} s; as '{}' ({}); after cursor {}",
                    h.version, h.protocol, h.profile, h.uptime_seconds, h.caller, h.role, session.cursor()
                ),
                Update::Event(ev) => {
                    if print(&ev, args.json, &mut stdout.lock()).is_err() {
                        // The reader went away (a closed pipe): done.
                        return Ok(ExitCode::SUCCESS);
                    }
                    if let Some(p) = &args.cursor_file {
                        save_cursor(p, session.cursor())
                            .with_context(|| format!("writing --cursor-file {}", p.display()))?;
                    }
                }
                Update::Reconnecting { error, retry_in } => {
                    eprintln!(
                        "watch: {error}; reconnecting in {:.1} s from cursor {}",
                        retry_in.as_secs_f64(),
                        session.cursor()
                    );
                    tokio::select! {
                        () = WatchSession::wait(retry_in) => {}
                        _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                    }
                }
                Update::Refused(e) => {
                    eprintln!("watch: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    });
    code
}

/// `alerts ack|resolve ID --connect URL`.
pub fn act(cmd: &AlertsCommand) -> anyhow::Result<ExitCode> {
    let (a, action, verb) = match cmd {
        AlertsCommand::Ack(a) => (a, pb::Action::Ack, "acknowledged"),
        AlertsCommand::Resolve(a) => (a, pb::Action::Resolve, "resolved"),
    };
    let opts = options(&a.remote, &a.profile)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let result: Result<pb::ActReply, ClientError> = async {
            let mut c = Client::connect(&opts).await?;
            c.act(&a.id, action, a.note.as_deref(), None).await
        }
        .await;
        match result {
            Ok(r) => {
                let who = r.status.map(|s| s.who).unwrap_or_default();
                println!(
                    "{} {verb} by {who} through {} (cursor {})",
                    a.id, opts.url, r.cursor
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {} not {verb}: {e}", a.id);
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// Whether an `alerts` command goes through a daemon.
pub fn is_remote(cmd: &AlertsCommand) -> bool {
    let (AlertsCommand::Ack(a) | AlertsCommand::Resolve(a)) = cmd;
    a.remote.connect.is_some()
}
