//! The `ethos` command. Each subcommand lives in its own module with a `pub fn main(args) -> i32`;
//! this file only reads the command line (clap) and dispatches.

mod quality;
mod run;
mod score;

use clap::Parser;

/// EthosAgents on the command line: score VITAL-format files, or run a benchmark against an LLM
/// endpoint.
#[derive(Debug, Parser)]
#[command(name = "ethos", version)]
enum Cli {
    /// Score VITAL-format JSON files whose predictions are filled in.
    Score(score::ScoreCli),
    /// Run a slice of a VITAL file through EthosAgents and the baselines against an endpoint.
    Run(run::RunCli),
    /// How well the model of finished runs played the method's parts (distinct perspectives,
    /// filled dimensions, option letters, time per run).
    Quality(quality::QualityCli),
}

fn main() {
    let code = match Cli::try_parse() {
        Ok(Cli::Score(args)) => score::main(args),
        Ok(Cli::Run(args)) => run::main(args),
        Ok(Cli::Quality(args)) => quality::main(args),
        Err(e) => {
            // Help and version on stdout (exit 0), usage errors on stderr (exit 2).
            let _ = e.print();
            e.exit_code()
        }
    };
    std::process::exit(code);
}
