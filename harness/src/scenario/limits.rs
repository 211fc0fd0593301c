//! What one scenario file, and one run, may hold. The limits are far above what a real suite
//! needs (the built-in suites make under 200 tests) and keep a mistyped or hostile file from
//! exhausting memory, the terminal or the cluster: everything is counted before anything is
//! expanded.

pub use super::read::MAX_FILE_BYTES;

/// Tests (matrix cells: a `from` and a `to` of one probe set) in one run.
pub const MAX_TESTS_PER_RUN: u64 = 10_000;
/// Probes in one run: each test probes from every pod of its `from` workload to every pod of
/// its target (a workload placed on every node counts one pod here).
pub const MAX_PROBES_PER_RUN: u64 = 100_000;
/// Problems reported per file; the rest are counted ("and N more").
pub const MAX_ERRORS_PER_FILE: usize = 50;
/// Pods of one workload.
pub const MAX_REPLICAS: u32 = 100;
/// `requires.min-nodes` (Kubernetes' own tested scale).
pub const MAX_MIN_NODES: u32 = 5_000;
/// A probe's `timeout`, in seconds.
pub const MAX_TIMEOUT_SECONDS: f64 = 300.0;
/// A namespace alias: the real namespace is `cnicheck-RUNID-sN-ALIAS`, or `...-sNcC-ALIAS` for
/// copy C of the scenario's workloads, at most 63 characters (with up to 999 scenarios per run
/// and [`MAX_COPIES`]).
pub const MAX_ALIAS_CHARS: usize = 36;
/// A scenario's `copies`: one digit names a copy in its namespaces.
pub const MAX_COPIES: u32 = 8;
/// Free text (`description`).
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// A load-balancing check's `samples` per client.
pub const MAX_SAMPLES: u32 = 1000;
/// An HTTP `path`.
pub const MAX_PATH_CHARS: usize = 2048;
