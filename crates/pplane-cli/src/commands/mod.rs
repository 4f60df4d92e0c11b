//! One module per command group; each returns the process exit code.

mod apikey;
mod bench;
mod check;
mod checkpoints;
mod db;
mod demo;
mod destination;
mod diagnose;
pub(crate) mod jobs;
mod migrate;
mod outbox;
mod projections;
mod run;
mod serve;
mod signal;
mod tenant;
mod trace;
mod worker;

use std::process::ExitCode;

use crate::args::{Cli, Command, Output};
use crate::failure::Failure;

pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let output = Output { json: cli.json };
    match cli.command {
        Command::Db { action } => db::run(action, output).await,
        Command::Migrate { action } => migrate::run(action, output).await,
        Command::Check { gate } => check::run(gate, output).await,
        Command::Bench { scenario } => bench::run(scenario, output).await,
        Command::Signal { action } => signal::run(action, output).await,
        Command::Run { action } => run::run(action, output).await,
        Command::Tenant { action } => tenant::run(action, output).await,
        Command::Destination { action } => destination::run(action, output).await,
        Command::Serve(args) => serve::run(args, output).await,
        Command::Apikey { action } => apikey::run(action, output).await,
        Command::Worker(args) => worker::run(args, output).await,
        Command::Outbox { action } => outbox::run(action, output).await,
        Command::Trace(args) => trace::run(args, output).await,
        Command::Checkpoints { action } => checkpoints::run(action, output).await,
        Command::Demo(args) => demo::run(args, output).await,
        Command::Diagnose { what } => diagnose::run(what, output).await,
        Command::Jobs { action } => jobs::run(action, output).await,
        Command::Projections { action } => projections::run(action, output).await,
    }
}
