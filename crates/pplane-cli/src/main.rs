//! `pplane`: the command-line shell over the persistence plane's libraries.
//! It parses arguments, resolves the database, calls a library function and
//! prints the result; every decision lives in the libraries.

mod acting;
mod args;
mod commands;
mod duration;
mod failure;
mod output;
mod paint;
mod target;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    // Logs (the worker's warnings) go to stderr; RUST_LOG overrides the level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return failure::report(anyhow::Error::from(err).into()),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => failure::report(err),
    }
}
