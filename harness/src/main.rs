//! `cnicheck`: see `cnicheck --help`. Parsing and dispatch only; the work is in the library.

mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::parse();
    cli::init_logging(args.verbose);
    std::process::ExitCode::from(cli::dispatch(args))
}
