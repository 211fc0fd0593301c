//! Colors and labels shared by the text reporters: verdict labels, SGR styles (only when
//! asked for), counted nouns.

use super::model::Verdict;

pub(super) const WRITE_TO_STRING: &str = "writing to a String cannot fail";

/// Progress lines align their names behind the longest verdict label (`ERROR`, `FLAKY`).
pub(super) const VERDICT_WIDTH: usize = 5;

pub(super) fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[derive(Clone, Copy)]
pub(super) struct Palette {
    pub(super) enabled: bool,
}

#[derive(Clone, Copy)]
pub(super) enum Style {
    Pass,
    Flaky,
    Fail,
    Error,
    Skip,
    Heading,
}

impl Style {
    fn sgr(self) -> &'static str {
        match self {
            Style::Pass => "32",
            Style::Flaky => "33",
            Style::Fail => "1;31",
            Style::Error => "1;35",
            Style::Skip => "2",
            Style::Heading => "1",
        }
    }
}

impl Palette {
    pub(super) fn paint(self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{}m{text}\x1b[0m", style.sgr())
        } else {
            text.to_owned()
        }
    }

    /// The verdict as a label right-aligned in `width`; padded before painting so escapes
    /// don't count.
    pub(super) fn verdict(self, verdict: Verdict, width: usize) -> String {
        let (label, style) = match verdict {
            Verdict::Pass => ("PASS", Style::Pass),
            Verdict::Flaky => ("FLAKY", Style::Flaky),
            Verdict::Fail => ("FAIL", Style::Fail),
            Verdict::Error => ("ERROR", Style::Error),
            Verdict::Skip => ("SKIP", Style::Skip),
        };
        self.paint(style, &format!("{label:>width$}"))
    }

    pub(super) fn symbol(self, symbol: char) -> String {
        match symbol {
            '!' => self.paint(Style::Fail, "!"),
            'E' => self.paint(Style::Error, "E"),
            other => other.to_string(),
        }
    }
}
