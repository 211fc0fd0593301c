//! Command-line interface. Exit codes are semantic, all of them in [`cnicheck::exit_code`].

mod cleanup;
mod diff;
mod run;
mod select;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cnicheck::agent::AgentCommand;
use cnicheck::exit_code;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cnicheck",
    version,
    about = "Conformance and connectivity checks for Kubernetes networking"
)]
pub struct Cli {
    /// More logs on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against a cluster (the built-in suites unless --scenarios is given).
    Run(Box<run::RunArgs>),
    /// Compare two runs' JSON reports: regressions, new skips, new flakes, fixed, added,
    /// removed. Exits 100 when something that passed before does not now.
    Diff(diff::DiffArgs),
    /// Check scenario files offline: syntax, unknown fields, references, manifests.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Let scenarios apply manifests outside their own folder
        #[arg(long)]
        allow_outside_manifests: bool,
    },
    /// Print the JSON Schema of scenario files (for editors).
    Schema,
    /// Remove what killed runs left behind (only objects labelled as cnicheck's).
    Cleanup(cleanup::CleanupArgs),
    /// Inside test pods: serve test traffic, or run a batch of probes.
    #[command(subcommand)]
    Agent(AgentCommand),
}

/// The command line, with the parts of `--help` that depend on the built-in suites.
pub fn parse() -> Cli {
    let command = Cli::command().mut_subcommand("run", |run| run.after_help(select::groups_help()));
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|error| error.exit())
}

pub fn init_logging(verbose: u8) {
    // kube logs each failed request as an ERROR in its own terms (`client error (Connect)`);
    // cnicheck's errors say the same in words, so those lines only come with -vv.
    let default = match verbose {
        0 => "warn,kube_client::client::builder=off",
        1 => "info,kube_client::client::builder=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cnicheck::report::console::colors_wanted(&std::io::stderr()))
        .init();
}

pub fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(args) => run::run(*args, cli.verbose == 0),
        Command::Diff(args) => diff::diff(args),
        Command::Validate {
            files,
            allow_outside_manifests,
        } => validate(&files, allow_outside_manifests),
        Command::Schema => {
            print_output(&format!("{:#}\n", cnicheck::scenario::json_schema()));
            exit_code::SUCCESS
        }
        Command::Cleanup(args) => cleanup::cleanup(args),
        Command::Agent(command) => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(command.run()) {
                Ok(()) => exit_code::SUCCESS,
                Err(error) => {
                    eprintln!("cnicheck agent: {error}");
                    exit_code::TOOL_ERROR
                }
            }
        }
    }
}

fn validate(files: &[PathBuf], allow_manifests_outside: bool) -> u8 {
    let options = cnicheck::scenario::LoadOptions {
        allow_manifests_outside,
    };
    match cnicheck::scenario::load_all_with(files, &options) {
        Ok(scenarios) => {
            for loaded in &scenarios {
                eprintln!("ok: {} ({})", loaded.source, loaded.scenario.name.value);
            }
            exit_code::SUCCESS
        }
        Err(errors) => {
            print_scenario_errors(&errors);
            exit_code::TOOL_ERROR
        }
    }
}

fn print_scenario_errors(errors: &[cnicheck::scenario::ScenarioError]) {
    for error in errors {
        eprintln!("{error}\n");
    }
    eprintln!(
        "{} problem(s) in scenario files; nothing was sent to the cluster",
        errors.len()
    );
}

/// Writes `text` to stdout. A reader that closed the pipe (`| head`) wanted no more, so that
/// ends the output quietly instead of panicking as `print!` does.
fn print_output(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("cnicheck: could not write to stdout: {error}");
    }
}
