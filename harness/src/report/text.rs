//! Making text from outside cnicheck (agent details, API server errors) safe to print on one
//! line: a pod can send anything, and a terminal escape sequence in a failure message would
//! restyle or rewrite the reader's terminal.

/// `text` without terminal escape sequences or control characters, whitespace collapsed.
pub fn single_line(text: &str) -> String {
    let mut printable = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
        } else if c.is_control() {
            printable.push(' ');
        } else {
            printable.push(c);
        }
    }
    printable.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Skips what follows an ESC: a CSI sequence (`ESC [ params final`, the colors and cursor
/// moves) up to its final byte, or the single character of any other escape.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars>) {
    if chars.next_if_eq(&'[').is_some() {
        for c in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                break;
            }
        }
    } else {
        chars.next();
    }
}

#[cfg(test)]
mod tests {
    use super::single_line;

    #[test]
    fn strips_escapes_and_control_characters() {
        assert_eq!(
            single_line("exec failed:\n\t\u{1b}[1;31mcontainer\u{1b}[0m not\u{0}found\u{1b}c"),
            "exec failed: container not found"
        );
        assert_eq!(single_line("résumé  ok"), "résumé ok");
    }
}
