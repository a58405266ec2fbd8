//! The `tfdrift` command line: parses arguments, sets up logging, dispatches to a command.
//! Exit status: 0 success, 1 usage or configuration error, 2 drift found with `--fail-on-drift`.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version are successes; everything else is a usage error (exit 1).
            let code = u8::from(e.use_stderr());
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if !commands::uses_terminal_ui(&cli) {
        commands::init_logging(&cli);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
