//! How values that callers sent appear in error messages: short and
//! printable. An error that echoes a 100,000-character argument whole, or
//! prints an escape sequence raw, is itself a problem.

/// Characters of a value an error message shows at most.
pub const PREVIEW_CHARS: usize = 40;

/// A short, printable preview of `value`: quoted, control characters
/// escaped, and for a long value its first characters and its length.
pub fn preview(value: &str) -> String {
    let head: String = value.chars().take(PREVIEW_CHARS).collect();
    let mut shown = format!("{head:?}");
    let total = value.chars().count();
    if total > PREVIEW_CHARS {
        shown += &format!(" (first {PREVIEW_CHARS} of {total} characters)");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_short_and_printable() {
        let long = "x".repeat(100_000);
        let p = preview(&long);
        assert!(p.len() < 100 && p.contains("of 100000 characters"), "{p}");
        assert_eq!(preview("a\u{1b}[2Jb\n"), r#""a\u{1b}[2Jb\n""#);
    }
}
