//! The `boundscope` command line: turns arguments into plain configuration
//! structs, runs the command, and maps failures to exit codes:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | internal failure (a bug: please report it) |
//! | 2 | bad input or usage: unreadable trace, unknown option, unwritable output |
//! | 3 | `--strict` and the input had recoverable problems (warnings) |

mod analyze_cmd;
mod calibrate_cmd;
mod cli;
mod export_cmd;
mod lowering_cmd;
mod profile;
mod sweep_cmd;
mod top;

use std::process::ExitCode;

use clap::Parser;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 2, error: error.into() }
    }

    pub fn strict(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 3, error: error.into() }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 1, error: error.into() }
    }

    /// The one mapping of output failures, for every command: a file that
    /// cannot be written (full disk, permissions) is the user's to fix (2); a
    /// table or plot that cannot be built is a bug (1).
    pub fn export(error: boundscope_reports::ExportError) -> Failure {
        match error {
            boundscope_reports::ExportError::Io { .. } => Failure::input(error),
            _ => Failure::internal(error),
        }
    }
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Analyze(a) => analyze_cmd::run(&a),
        cli::Command::Export(a) => export_cmd::run(&a),
        cli::Command::Sweep(a) => sweep_cmd::run(&a),
        cli::Command::Calibrate(a) => calibrate_cmd::run(&a),
        cli::Command::Lowering(a) => lowering_cmd::run(&a),
        cli::Command::Profile(a) => profile::run(&a),
        cli::Command::Top(a) => top::run(&a),
        cli::Command::Gate(a) => return profile::gate(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("boundscope: error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
