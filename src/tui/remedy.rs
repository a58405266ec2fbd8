//! The remediation commands the monitor offers (`c`, `c1`…`c5`, pinned in the details): only
//! ever commands, most specific first.

use crate::alert::Alert;

/// The commands `c` / `c1`…`c5` copy for an alert: those built from the alert's own values
/// (see [`crate::enrich::remediation::commands`]), then any rule-rendered line that is a
/// command (prose and placeholders are never offered), at most five.
#[must_use]
pub fn remediation_commands(a: &Alert) -> Vec<crate::enrich::remediation::Command> {
    let mut out = crate::enrich::remediation::commands(a);
    for line in &a.remediation {
        let Some(cmd) = command_of(line) else {
            continue;
        };
        // Already offered (or part of an offered command, like the import's plan step).
        if !out.iter().any(|c| c.line.contains(&cmd)) {
            out.push(crate::enrich::remediation::Command {
                line: cmd,
                why: "from the alert's remediation (rule)".into(),
            });
        }
    }
    out.truncate(MAX_COMMANDS);
    out
}

/// Most remediation commands listed (`c1`…`c5`).
pub const MAX_COMMANDS: usize = 5;

/// The command in a remediation line, without a trailing `# comment`; `None` when the line
/// is prose, a comment, HCL, or holds unresolved placeholders or parenthesised advice.
#[must_use]
pub fn command_of(line: &str) -> Option<String> {
    const TOOLS: &[&str] = &[
        "terraform",
        "tofu",
        "aws",
        "gcloud",
        "gsutil",
        "kubectl",
        "az",
    ];
    let line = line.trim();
    let cmd = line.split_once(" # ").map_or(line, |(c, _)| c).trim();
    let first = cmd.split_whitespace().next()?;
    let ok = TOOLS.contains(&first)
        && !cmd.contains('\n')
        && !cmd.contains(" (")
        && !cmd.contains('{')
        && !cmd.contains('…')
        && !cmd.contains("...");
    // Prose after the command (`… -target='x' to restore the trust policy`): three plain
    // words in a row past the tool and its subcommand are advice, not arguments.
    let mut run = 0;
    let prose = cmd.split_whitespace().skip(2).any(|w| {
        run = if w.chars().all(|c| c.is_ascii_lowercase()) {
            run + 1
        } else {
            0
        };
        run >= 3
    });
    (ok && !prose).then(|| cmd.to_string())
}
