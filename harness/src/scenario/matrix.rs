//! A probe set's cells as written: every `from` × every `to` × every protocol × every port,
//! each with the last part of its test name and its expectation after `except`. Cells, duplicate detection and
//! validation all expand a set here, so they agree on what its cells are.
//!
//! An `except` key is `FROM -> TO` (every port of that cell) or `FROM -> TO:LABEL` (one port,
//! `LABEL` as in the test name: `tcp/81`), where `*` matches any characters: `* -> pod:y/*`,
//! `y/* -> *:udp/9001`. The last entry that matches a cell decides it, so a general pattern
//! written first can be refined by the entries after it.

use super::model::{Expectation, Port, ProbeSet, Protocol};
use serde_saphyr::Spanned;

/// One cell of a probe set, as written.
#[derive(Debug, Clone)]
pub struct MatrixEntry<'s> {
    pub from: &'s Spanned<String>,
    pub to: &'s Spanned<String>,
    pub protocol: Protocol,
    pub port: Option<Port>,
    /// `tcp/9000`, `icmp`, or the set's name: the last part of the cell's test name.
    pub label: String,
    pub expected: &'s Expectation,
    /// The index in `except` of the entry that decided `expected`; none: the set's `expect`.
    pub decided_by: Option<usize>,
}

impl ProbeSet {
    /// Its cells, in file order: by `from`, then `to`, then protocol, then port.
    pub fn matrix(&self) -> Vec<MatrixEntry<'_>> {
        let except: Vec<(Option<ExceptKey<'_>>, &Expectation)> = self
            .except
            .iter()
            .map(|(key, expectation)| (ExceptKey::parse(&key.value), &expectation.value))
            .collect();
        let mut entries = Vec::new();
        for from in self.from.as_slice() {
            for to in self.to.as_slice() {
                for (protocol, port) in self
                    .protocols()
                    .flat_map(|protocol| self.ports().into_iter().map(move |port| (protocol, port)))
                {
                    let label = self.test_label(&to.value, protocol, port);
                    let decided_by = except.iter().rposition(|(key, _)| {
                        key.as_ref()
                            .is_some_and(|key| key.matches(&from.value, &to.value, &label))
                    });
                    let expected = decided_by.map_or(&self.expect.value, |index| except[index].1);
                    entries.push(MatrixEntry {
                        from,
                        to,
                        protocol,
                        port,
                        label,
                        expected,
                        decided_by,
                    });
                }
            }
        }
        entries
    }
}

/// An `except` key, its two sides trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceptKey<'k> {
    pub from: &'k str,
    /// `TO` or `TO:LABEL`.
    pub to: &'k str,
}

impl<'k> ExceptKey<'k> {
    pub fn parse(key: &'k str) -> Option<Self> {
        let (from, to) = key.split_once("->")?;
        let (from, to) = (from.trim(), to.trim());
        (!from.is_empty() && !to.is_empty()).then_some(ExceptKey { from, to })
    }

    pub fn is_pattern(&self) -> bool {
        self.from.contains('*') || self.to.contains('*')
    }

    /// Whether it names the cell `from -> to` at `label`: its `TO` side is the cell's `to`, or
    /// its `to` followed by `:LABEL`.
    pub fn matches(&self, from: &str, to: &str, label: &str) -> bool {
        glob(self.from, from) && (glob(self.to, to) || glob(self.to, &format!("{to}:{label}")))
    }
}

/// `pattern` matches all of `text`, `*` standing for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_texts_with_stars_for_any_run() {
        assert!(glob("pod:server", "pod:server"));
        assert!(!glob("pod:server", "pod:server-2"));
        assert!(glob("*", ""));
        assert!(glob("*", "y/client"));
        assert!(glob("y/*", "y/client"));
        assert!(!glob("y/*", "client"));
        assert!(glob("pod:*/server", "pod:y/server"));
        assert!(glob("*:tcp/81", "pod:server:tcp/81"));
        assert!(!glob("*:tcp/81", "pod:server:tcp/80"));
        assert!(glob("a*a", "aa"));
        assert!(!glob("a*a", "a"));
        assert!(glob("*x*y*", "axbxcy"));
    }

    #[test]
    fn keys_name_every_port_of_a_cell_or_one() {
        let key = ExceptKey::parse("client -> pod:server").unwrap();
        assert!(key.matches("client", "pod:server", "tcp/80"));
        assert!(key.matches("client", "pod:server", "tcp/81"));
        let one_port = ExceptKey::parse("client->pod:server:tcp/81").unwrap();
        assert!(!one_port.matches("client", "pod:server", "tcp/80"));
        assert!(one_port.matches("client", "pod:server", "tcp/81"));
        assert!(!one_port.is_pattern());
        let pattern = ExceptKey::parse("y/* -> *:udp/9001").unwrap();
        assert!(pattern.is_pattern());
        assert!(pattern.matches("y/client", "pod:server", "udp/9001"));
        assert!(!pattern.matches("client", "pod:server", "udp/9001"));
        assert_eq!(ExceptKey::parse("client ->"), None);
        assert_eq!(ExceptKey::parse("client"), None);
    }

    fn probe_set(yaml: &str) -> ProbeSet {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn cells(set: &ProbeSet) -> Vec<(String, &'static str)> {
        set.matrix()
            .iter()
            .map(|cell| {
                let expected = match cell.expected {
                    Expectation::Allowed => "allowed",
                    _ => "denied",
                };
                (
                    format!("{} -> {}:{}", cell.from.value, cell.to.value, cell.label),
                    expected,
                )
            })
            .collect()
    }

    #[test]
    fn protocol_and_port_lists_give_a_cell_each_named_by_both() {
        let set = probe_set(
            "from: a\nto: pod:b\nprotocol: [tcp, udp]\nport: [80, 81]\nexpect: allowed\n\
             except:\n  \"* -> *:udp/*\": denied\n  \"a -> pod:b:udp/81\": allowed\n",
        );
        assert_eq!(
            cells(&set),
            [
                ("a -> pod:b:tcp/80".to_owned(), "allowed"),
                ("a -> pod:b:tcp/81".to_owned(), "allowed"),
                ("a -> pod:b:udp/80".to_owned(), "denied"),
                ("a -> pod:b:udp/81".to_owned(), "allowed"),
            ]
        );
    }

    #[test]
    fn a_named_set_keeps_protocol_and_port_in_its_labels_only_when_it_lists_several() {
        let named = |protocol: &str, port: &str| {
            let set = probe_set(&format!(
                "name: web\nfrom: a\nto: pod:b\nprotocol: {protocol}\nport: {port}\nexpect: allowed\n"
            ));
            set.matrix()
                .into_iter()
                .map(|cell| cell.label)
                .collect::<Vec<_>>()
        };
        assert_eq!(named("tcp", "80"), ["web"]);
        assert_eq!(named("tcp", "[80, 81]"), ["web/80", "web/81"]);
        assert_eq!(named("[tcp, udp]", "80"), ["web/tcp", "web/udp"]);
        assert_eq!(
            named("[tcp, udp]", "[80, 81]"),
            ["web/tcp/80", "web/tcp/81", "web/udp/80", "web/udp/81"]
        );
    }
}
