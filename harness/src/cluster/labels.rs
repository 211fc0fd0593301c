//! The label scheme and the names cnicheck gives what it creates.
//!
//! Every object cnicheck creates carries [`MANAGED_BY`]`=`[`MANAGER`] and [`RUN`]`=<run id>`,
//! and the annotation [`CREATED_BY_RUN`]`=<run id>`: cleanup finds objects by these labels, and
//! deletes only those that also carry the annotation. Labels alone are not proof: Cilium copies
//! a pod's labels into the cluster-scoped CiliumIdentity it makes for the pod, and such an object
//! is Cilium's, not cnicheck's.

use super::ClusterError;
use crate::scenario::{NameError, names};
use rand::Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "cnicheck";
pub const RUN: &str = "cnicheck.io/run";
pub const WORKLOAD: &str = "cnicheck.io/workload";
pub const SCENARIO: &str = "cnicheck.io/scenario";
/// The annotation that marks an object as created by cnicheck's run (see the module's docs).
pub const CREATED_BY_RUN: &str = "cnicheck.io/created-by-run";

/// Label keys cnicheck sets itself; scenarios may not override them.
pub const RESERVED: [&str; 4] = [MANAGED_BY, RUN, WORKLOAD, SCENARIO];

const RUN_NAMESPACE_PREFIX: &str = "cnicheck-";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Identifies one cnicheck run: 6 base-36 characters of seconds since the epoch (so ids sort
/// by start time until 2038) and 4 random ones (so parallel runs in one second differ).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId(String);

impl RunId {
    pub fn generate() -> Self {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut rng = rand::rng();
        let random: String = (0..4)
            .map(|_| char::from(BASE36[rng.random_range(0..BASE36.len())]))
            .collect();
        RunId(format!("{}{random}", base36(seconds, 6)))
    }

    /// Accepts an id given by the user (e.g. `cnicheck cleanup --run ID`).
    pub fn parse(id: &str) -> Result<Self, ClusterError> {
        check_dns_label("run id", id)?;
        Ok(RunId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The run's own namespace (the scenario alias `default`).
    pub fn namespace(&self) -> String {
        format!("{RUN_NAMESPACE_PREFIX}{}", self.0)
    }

    /// The namespace for a scenario's extra namespace alias.
    pub fn extra_namespace(&self, alias: &str) -> Result<String, ClusterError> {
        check_dns_label("namespace alias", alias)?;
        let name = format!("{RUN_NAMESPACE_PREFIX}{}-{alias}", self.0);
        check_dns_label("namespace name", &name)?;
        Ok(name)
    }

    /// The annotation every object this run creates carries.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(CREATED_BY_RUN.to_string(), self.0.clone())])
    }

    /// `managed-by` and `run`: what every object of this run carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_string(), MANAGER.to_string()),
            (RUN.to_string(), self.0.clone()),
        ])
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Selects everything cnicheck made, or only what one run made.
pub fn managed_selector(run: Option<&str>) -> String {
    match run {
        Some(run) => format!("{MANAGED_BY}={MANAGER},{RUN}={run}"),
        None => format!("{MANAGED_BY}={MANAGER}"),
    }
}

/// Whether cnicheck created the object with these labels and annotations: its run label and its
/// annotation name the same run. An object that only copied cnicheck's labels has no annotation.
pub fn created_by_cnicheck(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> bool {
    let run = labels.and_then(|labels| labels.get(RUN));
    run.is_some() && run == annotations.and_then(|annotations| annotations.get(CREATED_BY_RUN))
}

/// The run's labels plus the scenario's: what every object of a scenario carries.
pub fn scenario_labels(
    run: &RunId,
    scenario: &str,
) -> Result<BTreeMap<String, String>, ClusterError> {
    check_label_value("scenario name", scenario)?;
    let mut labels = run.labels();
    labels.insert(SCENARIO.to_string(), scenario.to_string());
    Ok(labels)
}

fn base36(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for digit in digits.iter_mut().rev() {
        *digit = BASE36[(value % 36) as usize];
        value /= 36;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// RFC 1123 label: what namespace names, pod-name parts and Service names must be (Services
/// additionally need a leading letter, which [`check_service_name`] adds).
pub fn check_dns_label(what: &'static str, name: &str) -> Result<(), ClusterError> {
    names::dns_label(name).map_err(|why| invalid(what, name, why))
}

/// RFC 1035 label: a DNS label that starts with a letter, as Service names must.
pub fn check_service_name(name: &str) -> Result<(), ClusterError> {
    names::dns1035_label(name).map_err(|why| invalid("service name", name, why))
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn check_label_value(what: &'static str, value: &str) -> Result<(), ClusterError> {
    names::label_value(value).map_err(|why| invalid(what, value, why))
}

fn invalid(what: &'static str, name: &str, why: NameError) -> ClusterError {
    ClusterError::InvalidName {
        what,
        name: name.to_string(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_with_the_run_annotation_are_cnicheck_s() {
        let run = RunId::parse("t0abcd1234").unwrap();
        let (labels, annotations) = (run.labels(), run.annotations());
        assert!(created_by_cnicheck(Some(&labels), Some(&annotations)));
        // A CiliumIdentity: the pod's labels, none of its annotations.
        assert!(!created_by_cnicheck(Some(&labels), None));
        let other = RunId::parse("t0abcd9999").unwrap().annotations();
        assert!(!created_by_cnicheck(Some(&labels), Some(&other)));
        assert!(!created_by_cnicheck(None, Some(&annotations)));
    }

    #[test]
    fn run_ids_are_short_valid_labels_and_differ() {
        let first = RunId::generate();
        let second = RunId::generate();
        assert_eq!(first.as_str().len(), 10);
        assert_ne!(first, second);
        check_dns_label("run id", first.as_str()).unwrap();
        check_label_value("run id", first.as_str()).unwrap();
    }

    #[test]
    fn run_ids_sort_by_time() {
        assert_eq!(base36(0, 6), "000000");
        assert_eq!(base36(35, 6), "00000z");
        assert!(base36(1_800_000_000, 6) < base36(1_800_000_001, 6));
        assert!(base36(1_799_999_999, 6) < base36(1_800_000_000, 6));
    }

    #[test]
    fn namespace_names() {
        let run = RunId::parse("t0abcd1234").unwrap();
        assert_eq!(run.namespace(), "cnicheck-t0abcd1234");
        assert_eq!(
            run.extra_namespace("other").unwrap(),
            "cnicheck-t0abcd1234-other"
        );
        assert!(run.extra_namespace("Other").is_err());
        assert!(run.extra_namespace("a_b").is_err());
        assert!(run.extra_namespace(&"x".repeat(60)).is_err());
    }

    #[test]
    fn run_labels_and_selectors() {
        let run = RunId::parse("t0abcd1234").unwrap();
        let labels = run.labels();
        assert_eq!(labels[MANAGED_BY], "cnicheck");
        assert_eq!(labels[RUN], "t0abcd1234");
        assert_eq!(labels.len(), 2);
        assert_eq!(
            managed_selector(None),
            "app.kubernetes.io/managed-by=cnicheck"
        );
        assert_eq!(
            managed_selector(Some("t0abcd1234")),
            "app.kubernetes.io/managed-by=cnicheck,cnicheck.io/run=t0abcd1234"
        );
        let labels = scenario_labels(&run, "pod-to-pod").unwrap();
        assert_eq!(labels[SCENARIO], "pod-to-pod");
        assert_eq!(labels.len(), 3);
        assert!(scenario_labels(&run, "pod to pod").is_err());
    }

    #[test]
    fn user_run_ids_are_validated() {
        assert!(RunId::parse("abc,def").is_err());
        assert!(RunId::parse("").is_err());
        assert!(RunId::parse("x=y").is_err());
    }

    #[test]
    fn name_checks() {
        assert!(check_service_name("server").is_ok());
        assert!(check_service_name("1server").is_err());
        assert!(check_dns_label("x", "1server").is_ok());
        assert!(check_dns_label("x", "-a").is_err());
        assert!(check_label_value("x", "pod-to-pod").is_ok());
        assert!(check_label_value("x", "Pod_To.pod").is_ok());
        assert!(check_label_value("x", "pod to pod").is_err());
        assert!(check_label_value("x", "-a").is_err());
        assert!(check_label_value("x", "").is_ok());
    }
}
