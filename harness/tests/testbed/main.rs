//! The `cnicheck` binary against a real cluster: the testbed (`ci/testbed`), with its locally
//! built agent image and its outside world. Ignored by default; `ci/test` runs them with
//! `--ignored` once the testbed is up (`KUBECONFIG` pointing at it).
//!
//! Each test proves one promise: the built-in suites pass on a healthy cluster; a wrong
//! expectation fails with a readable message; a probe whose agent vanished is an error, never a
//! pass; a missing image is a setup error named within the timeout; a Multus NAD whose master
//! interface is missing or whose range is too small is named as such; node ports pass between
//! every ordered pair of nodes and a blocked one fails exactly in its direction; Cilium's
//! scenarios skip here (no Cilium agents) while their policies pass the dry-run preflight
//! against the installed CRDs, and a misspelled policy stops the run before anything is
//! deployed; a killed run is cleaned up by `cnicheck cleanup`, and an interrupted one cleans up
//! after itself; `cnicheck diff` names exactly the cells that regressed; the documented RBAC
//! role is all a run needs; a truth table with port lists and patterns passes, its UDP denies
//! confirmed by the receiving agent; a Service's answers are counted by backend, and an
//! affinity the Service lacks fails; the testbed's plaintext between nodes fails `encrypted`.

mod balancing;
mod cilium_agents;
mod cilium_checks;
mod cleanup;
mod diff;
mod encryption;
mod multus;
mod node_ports;
mod rbac;
mod runs;
mod support;
mod tables;
