//! The `:` command line: `:q`, `:filter …`, `:sort …`, `:ack`, `:snooze 30m`, `:resolve`,
//! `:follow`, `:unified`, `:w`, `:copy …`, `:rule ignore|severity`, `:help`.

use chrono::Duration;

use super::app::{App, Effect};
use super::feed::{SortKey, Status};
use super::keymap::Context;

/// Commands for the help popup: (usage, description).
pub const COMMANDS: &[(&str, &str)] = &[
    (":q  :quit", "Quit"),
    (
        ":filter TEXT",
        "Filter the feed (empty clears); same syntax as /",
    ),
    (
        ":sort COLUMN [asc|desc]",
        "time, severity, kind, resource, actor",
    ),
    (
        ":ack  :resolve  :reopen",
        "Set the selected alert's status (saved in the store when there is one)",
    ),
    (
        ":snooze [30m|2h|1d]",
        "Snooze the selected alert, or on the Now board the selected drift(s) (default 1h)",
    ),
    (":follow [on|off]", "Keep the newest alert selected"),
    (":unified  :split", "Diff layout"),
    (
        ":copy alert|diff|remediation [N]",
        "Copy to the clipboard (OSC 52 fallback); remediation N = command N (1–5)",
    ),
    (
        ":rule ignore|severity",
        "Draft a rule from the selected alert",
    ),
    (":w", "Save the rule file"),
];

fn duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    Some(match unit {
        "m" | "min" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return None,
    })
}

/// Runs one command line against the app.
pub fn run(app: &mut App, line: &str) {
    let line = line.trim().trim_start_matches(':');
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let err = |app: &mut App, m: String| app.message = Some((m, true));
    match cmd {
        "" => {}
        "q" | "q!" | "quit" | "qa" | "wq" => {
            if cmd == "wq" {
                app.request_save();
                if !app.effects.contains(&Effect::SaveRules) {
                    // Not saved (read-only, or the rules do not compile): stay, say why.
                    return;
                }
            }
            app.quit = true;
        }
        "filter" | "f" => app.set_filter_text(rest),
        "sort" => {
            let mut words = rest.split_whitespace();
            match words.next().and_then(SortKey::parse) {
                Some(k) => {
                    let desc = match words.next() {
                        Some("asc") => false,
                        Some("desc") | None => true,
                        Some(other) => {
                            return err(app, format!("sort direction '{other}': use asc or desc"));
                        }
                    };
                    app.sort(k, desc);
                }
                None => err(
                    app,
                    format!("sort by '{rest}'? columns: time, severity, kind, resource, actor"),
                ),
            }
        }
        "ack" => app.run_action(app.list_context(), "ack"),
        "resolve" => app.run_action(app.list_context(), "resolve"),
        "reopen" if app.view == super::app::View::Now => err(
            app,
            "A drift reopens by itself when it recurs; :reopen is for alerts (v shows the feed)"
                .into(),
        ),
        "reopen" => {
            if let Some(i) = app.selected_index() {
                app.change_status(i, Status::New, "reopened");
            }
        }
        "snooze" => {
            let d = if rest.is_empty() {
                Some(Duration::hours(1))
            } else {
                duration(rest)
            };
            let label = if rest.is_empty() { "1h" } else { rest };
            match (d, app.selected_index()) {
                (Some(d), _) if app.view == super::app::View::Now => app.snooze_drifts(d, label),
                (Some(d), Some(i)) => {
                    let what = format!("snoozed for {}", if rest.is_empty() { "1h" } else { rest });
                    app.change_status(i, Status::Snoozed(app.now + d), &what);
                }
                (None, _) => err(app, format!("snooze for '{rest}'? e.g. 30m, 2h, 1d")),
                (_, None) => err(app, "No alert selected".into()),
            }
        }
        "follow" => {
            app.follow = match rest {
                "on" => true,
                "off" => false,
                _ => !app.follow,
            };
            if app.follow {
                app.sel = 0;
            }
        }
        "unified" => app.unified = true,
        "split" => app.unified = false,
        "w" | "write" => app.request_save(),
        "copy" | "y" => match rest {
            "" | "alert" => app.run_action(Context::Feed, "copy_alert"),
            "diff" => app.run_action(Context::Feed, "copy_diff"),
            "remediation" | "fix" => app.run_action(Context::Feed, "copy_remediation"),
            r if r.starts_with("remediation ") || r.starts_with("fix ") => {
                match r
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) if (1..=5).contains(&n) => app.copy_remediation_n(n),
                    _ => err(app, format!("copy '{r}'? remediation 1 … remediation 5")),
                }
            }
            other => err(app, format!("copy '{other}'? alert, diff or remediation")),
        },
        "rule" => match rest {
            "ignore" => app.run_action(Context::Feed, "new_ignore_rule"),
            "severity" | "raise" => app.run_action(Context::Feed, "new_severity_rule"),
            other => err(app, format!("rule '{other}'? ignore or severity")),
        },
        "help" | "h" => app.help = true,
        other => err(
            app,
            format!("unknown command ':{other}' (try :q, :filter, :sort, :ack, :snooze, :help)"),
        ),
    }
}
