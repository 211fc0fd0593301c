//! Where a scenario's text and the manifests it applies come from: a directory on disk, or
//! the copies of `scenarios/` compiled into the binary so the built-in suites need no files.

use super::ScenarioError;
use super::read::read_text;
use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioSource {
    /// A file on disk; manifest paths are relative to its directory.
    File(PathBuf),
    /// A built-in scenario, by its path under `scenarios/`; manifest paths are relative to it
    /// within the embedded files.
    Builtin(&'static str),
}

impl ScenarioSource {
    /// The text of a manifest named (as in `apply`) relative to the scenario.
    pub fn read_manifest(&self, relative: &str) -> Result<Cow<'static, str>, ScenarioError> {
        match self {
            ScenarioSource::File(path) => read_text(&sibling(path, relative)).map(Cow::Owned),
            ScenarioSource::Builtin(path) => {
                let manifest = embedded_sibling(path, relative);
                find_builtin_manifest(&manifest)
                    .map(Cow::Borrowed)
                    .ok_or_else(|| ScenarioError::Read {
                        path: Path::new(BUILTIN_PREFIX).join(&manifest),
                        source: io::ErrorKind::NotFound.into(),
                    })
            }
        }
    }

    /// How reports name a manifest (relative to the scenario): its path, or `builtin/...`.
    pub fn manifest_name(&self, relative: &str) -> String {
        match self {
            ScenarioSource::File(path) => sibling(path, relative).display().to_string(),
            ScenarioSource::Builtin(path) => {
                format!("{BUILTIN_PREFIX}/{}", embedded_sibling(path, relative))
            }
        }
    }

    /// The manifest's name and text, for validation: a file must be inside the scenario's
    /// folder once symlinks are resolved, unless `allow_outside`.
    pub(crate) fn load_manifest(
        &self,
        relative: &str,
        allow_outside: bool,
    ) -> Result<(String, Cow<'static, str>), ManifestProblem> {
        let ScenarioSource::File(path) = self else {
            return self
                .read_manifest(relative)
                .map(|text| (self.manifest_name(relative), text))
                .map_err(|_| ManifestProblem::NotFound);
        };
        let folder = path.parent().unwrap_or(Path::new(""));
        let joined = sibling(path, relative);
        // Lexically first, so `../../etc/x` is refused whether or not it exists.
        if !allow_outside && escapes(relative) {
            return Err(ManifestProblem::Outside {
                folder: folder.display().to_string(),
                resolved: joined.display().to_string(),
            });
        }
        let resolved = joined.canonicalize().map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => ManifestProblem::NotFound,
            _ => ManifestProblem::Unreadable(ScenarioError::Read {
                path: joined.clone(),
                source: error,
            }),
        })?;
        if !allow_outside {
            let folder = if folder.as_os_str().is_empty() {
                Path::new(".")
            } else {
                folder
            };
            let inside = folder
                .canonicalize()
                .is_ok_and(|folder| resolved.starts_with(folder));
            if !inside {
                return Err(ManifestProblem::Outside {
                    folder: folder.display().to_string(),
                    resolved: resolved.display().to_string(),
                });
            }
        }
        read_text(&resolved)
            .map(|text| (joined.display().to_string(), Cow::Owned(text)))
            .map_err(ManifestProblem::Unreadable)
    }
}

/// Why a manifest a scenario names cannot be checked.
#[derive(Debug)]
pub(crate) enum ManifestProblem {
    NotFound,
    /// Outside the scenario's folder (symlinks resolved), and that is not allowed.
    Outside {
        folder: String,
        resolved: String,
    },
    Unreadable(ScenarioError),
}

/// The name diagnostics and reports use.
impl fmt::Display for ScenarioSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioSource::File(path) => write!(f, "{}", path.display()),
            ScenarioSource::Builtin(path) => write!(f, "{BUILTIN_PREFIX}/{path}"),
        }
    }
}

const BUILTIN_PREFIX: &str = "builtin";

fn sibling(scenario: &Path, relative: &str) -> PathBuf {
    scenario.parent().unwrap_or(Path::new("")).join(relative)
}

/// Whether `relative` leaves its folder by itself: absolute, or more `..` than folders.
fn escapes(relative: &str) -> bool {
    let mut depth = 0usize;
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// Joins and normalizes lexically: embedded files have no file system to resolve `..` for us.
fn embedded_sibling(scenario: &str, relative: &str) -> String {
    let directory = scenario
        .rsplit_once('/')
        .map_or("", |(directory, _)| directory);
    let mut parts: Vec<&str> = Vec::new();
    for part in directory.split('/').chain(relative.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/", $path)))),*]
    };
}

/// The built-in scenarios, as (path under `scenarios/`, text).
pub(super) const BUILTIN_SCENARIOS: &[(&str, &str)] = embed![
    "pod-to-pod.yaml",
    "pod-to-service.yaml",
    "load-balancing.yaml",
    "encryption.yaml",
    "cross-node.yaml",
    "node-ports.yaml",
    "dns.yaml",
    "external.yaml",
    "network-policy.yaml",
    "policy-deny-ingress.yaml",
    "policy-deny-egress.yaml",
    "policy-selectors.yaml",
    "policy-ports.yaml",
    "policy-ipblock.yaml",
    "policy-ipblock-egress.yaml",
    "netpol-e2e.yaml",
    "netpol-e2e-ipblock.yaml",
    "multus.yaml",
    "cilium.yaml",
    "cilium-l3-l4.yaml",
    "cilium-entities.yaml",
    "cilium-cidr.yaml",
    "cilium-l7-http.yaml",
    "cilium-fqdn.yaml",
    "cilium-clusterwide.yaml",
];

/// Everything the built-in scenarios apply.
const BUILTIN_MANIFESTS: &[(&str, &str)] = embed![
    "manifests/deny-ingress-to-server.yaml",
    "manifests/policy-deny-all-ingress.yaml",
    "manifests/policy-deny-egress-allow-dns.yaml",
    "manifests/policy-allow-pod-label.yaml",
    "manifests/policy-allow-namespace-label.yaml",
    "manifests/policy-allow-pod-and-namespace.yaml",
    "manifests/policy-allow-pod-or-namespace.yaml",
    "manifests/policy-allow-tcp-9000.yaml",
    "manifests/policy-allow-named-port-http.yaml",
    "manifests/policy-ipblock-ingress.yaml",
    "manifests/policy-ipblock-egress.yaml",
    "manifests/cnp-l3-l4.yaml",
    "manifests/cnp-entities.yaml",
    "manifests/cnp-cidr.yaml",
    "manifests/cnp-l7-http.yaml",
    "manifests/cnp-fqdn.yaml",
    "manifests/ccnp-deny-locked-zone.yaml",
    "manifests/netpol-e2e/allow-all.yaml",
    "manifests/netpol-e2e/allow-from-pod-selector-in-server-ns.yaml",
    "manifests/netpol-e2e/allow-ingress-for-a-target.yaml",
    "manifests/netpol-e2e/allow-ingress-from-all-namespaces.yaml",
    "manifests/netpol-e2e/allow-only-from-other-ns-by-ns-selector.yaml",
    "manifests/netpol-e2e/allow-only-from-pod-in-other-ns.yaml",
    "manifests/netpol-e2e/any-pod-selectors.yaml",
    "manifests/netpol-e2e/default-deny-all.yaml",
    "manifests/netpol-e2e/default-deny-ingress.yaml",
    "manifests/netpol-e2e/deny-egress-by-pod-selector.yaml",
    "manifests/netpol-e2e/deny-egress-from-namespace.yaml",
    "manifests/netpol-e2e/deny-egress-on-client-side.yaml",
    "manifests/netpol-e2e/deny-ingress-from-other-namespaces.yaml",
    "manifests/netpol-e2e/egress-one-named-port.yaml",
    "manifests/netpol-e2e/egress-to-pod-in-other-ns.yaml",
    "manifests/netpol-e2e/independent-ingress-egress-deny-ingress.yaml",
    "manifests/netpol-e2e/independent-ingress-egress.yaml",
    "manifests/netpol-e2e/ingress-and-egress-together.yaml",
    "manifests/netpol-e2e/ingress-any-port-on-one-protocol.yaml",
    "manifests/netpol-e2e/ingress-from-ns-on-one-named-port.yaml",
    "manifests/netpol-e2e/ingress-one-named-port.yaml",
    "manifests/netpol-e2e/ipblock-egress-to-cidr.yaml",
    "manifests/netpol-e2e/ipblock-except-clause.yaml",
    "manifests/netpol-e2e/ipblock-overlap-allow-pod.yaml",
    "manifests/netpol-e2e/ipblock-overlap-except.yaml",
    "manifests/netpol-e2e/multiple-egress-policies-allow-all.yaml",
    "manifests/netpol-e2e/multiple-egress-policies.yaml",
    "manifests/netpol-e2e/multiple-ingress-policies-allow-all.yaml",
    "manifests/netpol-e2e/multiple-ingress-policies.yaml",
    "manifests/netpol-e2e/multiple-pod-and-ns-selectors.yaml",
    "manifests/netpol-e2e/ns-selector-match-expressions-default-ns-label.yaml",
    "manifests/netpol-e2e/ns-selector-match-expressions.yaml",
    "manifests/netpol-e2e/ns-selector-match-labels-default-ns-label.yaml",
    "manifests/netpol-e2e/pod-selector-and-ns-selector.yaml",
    "manifests/netpol-e2e/pod-selector-match-expressions.yaml",
    "manifests/netpol-e2e/pod-selector-or-ns-selector.yaml",
    "manifests/netpol-e2e/ports.yaml",
    "manifests/netpol-e2e/sctp-not-treated-as-tcp.yaml",
    "manifests/netpol-e2e/sctp-policy-isolates.yaml",
    "manifests/netpol-e2e/stacked-overlapping-pod-selectors-80.yaml",
    "manifests/netpol-e2e/stacked-overlapping-pod-selectors.yaml",
    "manifests/netpol-e2e/stop-enforcing-after-delete.yaml",
    "manifests/netpol-e2e/udp-allow-only-from-pod-in-other-ns.yaml",
    "manifests/netpol-e2e/udp-default-deny-ingress.yaml",
    "manifests/netpol-e2e/udp-only-policy-blocks-tcp.yaml",
    "manifests/netpol-e2e/udp-ports.yaml",
    "manifests/netpol-e2e/updated-policy-allow-all.yaml",
    "manifests/netpol-e2e/updated-policy-deny-all.yaml",
];

fn find_builtin_manifest(path: &str) -> Option<&'static str> {
    BUILTIN_MANIFESTS
        .iter()
        .find(|(candidate, _)| *candidate == path)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_paths_normalize() {
        assert_eq!(embedded_sibling("a.yaml", "./m/x.yaml"), "m/x.yaml");
        assert_eq!(embedded_sibling("sub/a.yaml", "../m/x.yaml"), "m/x.yaml");
        assert_eq!(embedded_sibling("sub/a.yaml", "x.yaml"), "sub/x.yaml");
    }

    #[test]
    fn builtin_manifests_resolve() {
        let source = ScenarioSource::Builtin("network-policy.yaml");
        let text = source
            .read_manifest("manifests/deny-ingress-to-server.yaml")
            .unwrap();
        assert!(text.contains("NetworkPolicy"));
        let missing = source.read_manifest("manifests/nope.yaml").unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("builtin/manifests/nope.yaml: cannot read")
        );
    }
}
