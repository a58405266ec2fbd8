//! `tfdrift serve --profile P`: the documented name of the team-mode daemon, the same as
//! `tfdrift tui --profile P --no-ui` (the API starts when the profile has `api:`).

use std::process::ExitCode;

use crate::cli::{ServeArgs, TuiArgs};

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let tui = TuiArgs {
        profile: args.profile.clone(),
        no_ui: true,
        once: args.once,
        no_stdout: args.no_stdout,
        replay_interval_ms: args.replay_interval_ms,
        rules_file: None,
        readonly: false,
        connect: crate::cli::ConnectArgs::default(),
    };
    super::headless::run(&tui)
}
