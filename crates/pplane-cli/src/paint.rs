//! Colour for statuses, only when stdout is a terminal (and NO_COLOR is unset).

use std::io::IsTerminal;
use std::sync::OnceLock;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

/// A status in its colour: green done, red failed, yellow waiting or running.
pub fn status(s: &str) -> String {
    let code = match s {
        "COMPLETED" | "DELIVERED" => "32",
        "FAILED" | "DEAD_LETTER" | "CANCELLED" => "31",
        "PENDING" | "RUNNING" | "IN_FLIGHT" | "SKIPPED" => "33",
        _ => return s.to_owned(),
    };
    paint(code, s)
}

pub fn dim(s: &str) -> String {
    paint("2", s)
}

pub fn bold(s: &str) -> String {
    paint("1", s)
}

fn paint(code: &str, s: &str) -> String {
    if enabled() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}
