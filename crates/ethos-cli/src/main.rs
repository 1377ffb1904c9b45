//! The `ethos` command. Each subcommand lives in its own module with a
//! `pub fn main(args: &[String]) -> i32`; this file only dispatches.

mod run;
mod score;

const USAGE: &str = "\
usage:
  ethos score [--parser reference|strict] [--score-failed] FILE...
      Score VITAL-format JSON files whose predictions are filled in
      (pred_distribution for distributional/OpinionQA files, output for steerable-value files).
      Prints one JSON object per file, in order: the scores (scikit-learn's semantics for
      accuracy, balanced accuracy, macro-F1 and their binary variant; SciPy's JS distance with
      the natural log), the records left out because their run failed (`failed`), and for
      distributions how many predictions each method produced (`pred_methods`, `mixed_methods`).
      --score-failed: a record whose run failed (`pred_error`) or without a prediction is scored
      as the reference does instead (uniform distribution, `pred_method` failed_uniform; an
      unparsed answer); `failed_scored` counts them.

";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let code = match args.first().map(String::as_str) {
        Some("score") => score::main(rest),
        Some("run") => run::main(rest),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}{}", run::USAGE);
            0
        }
        Some(other) => {
            eprint!("ethos: unknown subcommand {other:?}\n{USAGE}");
            2
        }
        None => {
            eprint!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
