//! Argument reading shared by the test servers' binaries: `--flag value` pairs, and a usage
//! message with exit code 2 on any mistake.

use std::str::FromStr;

pub struct Args {
    bin: &'static str,
    usage: &'static str,
    rest: std::iter::Skip<std::env::Args>,
}

impl Args {
    /// The process arguments after the program name.
    pub fn new(bin: &'static str, usage: &'static str) -> Args {
        Args {
            bin,
            usage,
            rest: std::env::args().skip(1),
        }
    }

    /// The next flag, or None at the end.
    pub fn next_flag(&mut self) -> Option<String> {
        self.rest.next()
    }

    /// The value after `flag`, parsed; a missing or unparsable value ends the process with
    /// "`flag` must be `what`".
    pub fn value<T: FromStr>(&mut self, flag: &str, what: &str) -> T {
        match self.rest.next() {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| self.fail(&format!("{flag} must be {what}"))),
            None => self.fail(&format!("{flag} needs a value")),
        }
    }

    pub fn usage(&self) -> &'static str {
        self.usage
    }

    /// Print the message and the usage to stderr, exit with code 2.
    pub fn fail(&self, msg: &str) -> ! {
        eprintln!("{}: {msg}\n{}", self.bin, self.usage);
        std::process::exit(2);
    }
}
