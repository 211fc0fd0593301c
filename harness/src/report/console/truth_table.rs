//! A failed matrix's truth tables (see [`crate::report::truth_table`]) as the console shows
//! them: numbered columns with a legend, since target names are long.

use crate::report::model::ScenarioReport;
use crate::report::palette::{Palette, Style};
use crate::report::truth_table::{LEGEND, TruthTable};
use std::fmt::{self, Write as _};

pub(super) fn write_truth_tables(
    out: &mut String,
    scenario: &ScenarioReport,
    table: &TruthTable,
    palette: Palette,
) -> fmt::Result {
    writeln!(
        out,
        "{} {} / {}: {}: {} of {} cells wrong",
        palette.paint(Style::Heading, "Matrix"),
        scenario.name,
        table.phase,
        table.protocol,
        table.wrong(),
        table.cells()
    )?;
    let column_width = table.columns.len().to_string().len() + 2;
    for (number, column) in table.columns.iter().enumerate() {
        let at = if column.address.is_empty() {
            String::new()
        } else {
            format!(" at {}", column.address)
        };
        writeln!(out, "    {:>column_width$} = {}{at}", number + 1, column.to)?;
    }
    let row_width = table
        .rows
        .iter()
        .map(|row| row.chars().count())
        .max()
        .unwrap_or(0);
    let padding = " ".repeat(column_width - 1);
    for (title, symbols) in [
        ("expected", &table.expected),
        ("observed", &table.observed),
        ("diff", &table.diff),
    ] {
        writeln!(out, "  {title}:")?;
        write!(out, "    {:row_width$}", "")?;
        for number in 1..=table.columns.len() {
            write!(out, "{number:>column_width$}")?;
        }
        writeln!(out)?;
        for (row, symbols) in table.rows.iter().zip(symbols) {
            write!(out, "    {row:row_width$}")?;
            for symbol in symbols.chars() {
                write!(out, "{padding}{}", palette.symbol(symbol))?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "  {LEGEND}")?;
    writeln!(out)
}
