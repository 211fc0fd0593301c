//! `cnicheck run`: scenarios in, verdicts out. Loads and validates scenarios before touching
//! the cluster, lists or filters tests libtest-style, runs the selection, writes the reports,
//! and removes everything it created, also when interrupted.

use super::print_scenario_errors;
use super::select::{self, SelectArgs};
use cnicheck::checks::{CheckOptions, cilium};
use cnicheck::cluster::{self, Images, Kubectl, PullPolicy, RunId};
use cnicheck::events::{EventSink, Fanout};
use cnicheck::exit_code;
use cnicheck::image::ImageRef;
use cnicheck::multus::{IpRange, MultusError, NadOptions, Plugin};
use cnicheck::report;
use cnicheck::report::console::{Console, ConsoleReporter, colors_wanted};
use cnicheck::report::file::{FileFormat, ReportFile};
use cnicheck::report::libtest::{self, LibtestReporter, SelectedTests};
use cnicheck::report::model::RunReport;
use cnicheck::report::progress::ProgressReporter;
use cnicheck::runner::cells::CellKind;
use cnicheck::runner::{self, ExternalTarget, RunOptions, Selection, TunnelOverride};
use cnicheck::scenario::model::BuiltinCheck;
use cnicheck::scenario::{self, LoadedScenario};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files to run instead of the built-in suites: several after one -f
    /// (`-f a.yaml b.yaml`, or a shell glob), or -f repeated
    #[arg(long = "scenarios", short = 'f', value_name = "FILE", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Let scenario files apply manifests outside their own folder
    #[arg(long)]
    pub allow_outside_manifests: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Scenarios run at once (default: all of the selected ones)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub test_threads: Option<u16>,
    /// How test results are printed on stdout: one line per test (pretty), one character
    /// per test (terse), or libtest's JSON lines (json)
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: OutputFormat,
    /// Kubeconfig of the cluster to test, else `$KUBECONFIG` (a list of files is merged, as
    /// kubectl does), ~/.kube/config, the in-cluster config; exec credential plugins (`aws eks
    /// get-token`) work
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current one
    #[arg(long)]
    pub context: Option<String>,
    /// Your mirror of cnicheck's images (air-gapped clusters): replaces `ghcr.io` in the agent
    /// image, so `REGISTRY/cnicheck/agent:VERSION` is deployed. E.g.
    /// 123456789012.dkr.ecr.us-west-2.amazonaws.com/ghcr for an ECR pull-through cache.
    #[arg(long, value_name = "REGISTRY", env = "CNICHECK_IMAGE_REGISTRY",
          value_parser = cluster::parse_registry_prefix)]
    pub image_registry: Option<String>,
    /// Full agent image reference; wins over --image-registry.
    #[arg(long, value_name = "IMAGE", env = "CNICHECK_AGENT_IMAGE")]
    pub agent_image: Option<String>,
    #[arg(long, value_enum, default_value = "if-not-present")]
    pub pull_policy: PullPolicyArg,
    /// Target of `external` probes, e.g. http://example.internal/ (never implied).
    #[arg(long, env = "CNICHECK_EXTERNAL_TARGET")]
    pub external_target: Option<reqwest::Url>,
    /// Seconds to wait for pods, Services and deletions.
    #[arg(long, default_value_t = 180)]
    pub setup_timeout: u64,
    /// Seconds each call to the API server may take (connecting included; a watch may take
    /// its own length on top). A stalled server ends the run after this long.
    #[arg(long, value_name = "SECONDS", default_value_t = cluster::DEFAULT_API_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub api_timeout: u64,
    /// Seconds a phase that applied or deleted objects polls for the expected state.
    #[arg(long, default_value_t = 60)]
    pub propagation_timeout: u64,
    /// Seconds a phase that applied or deleted objects must match its expectations in a row
    /// (a policy that is not enforced yet would otherwise pass "allowed" probes), when none of
    /// its probes is expected to observe the opposite of the previous phase (see --confirm).
    #[arg(long, default_value_t = 5)]
    pub settle: u64,
    /// Seconds a phase that applied or deleted objects must still match after its probes
    /// expected to flip (allowed before the change, denied now, or the reverse) have flipped,
    /// which shows the change took effect: it matches in a second round at least this long
    /// after the first.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5, value_parser = confirm_seconds)]
    pub confirm: f64,
    /// Extra attempts for failing probes in other phases (a pass on retry is reported flaky).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Keep the namespaces and pods after the run, for debugging and for the failures' reproduce
    /// commands; `cnicheck cleanup --run ID` removes them
    #[arg(long)]
    pub keep: bool,
    /// Where to put diagnostics (pod logs, events, objects) of scenarios that failed.
    #[arg(long, default_value = "cnicheck-artifacts")]
    pub artifacts: PathBuf,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail unless every Cilium agent runs this image, e.g.
    /// public.ecr.aws/eks/cilium/cilium:v1.17.6-0 (repository, and tag and @digest if given).
    #[arg(long, value_name = "IMAGE")]
    pub expect_cilium_image: Option<ImageRef>,
    /// Fail unless every Cilium operator runs this image, e.g.
    /// public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0.
    #[arg(long, value_name = "IMAGE")]
    pub expect_cilium_operator_image: Option<ImageRef>,
    /// The UDP port of the overlay between nodes, which `port: tunnel` probes (the node-port
    /// suite), or `none` where there is no overlay; default: Cilium's own (`cilium-config`:
    /// VXLAN 8472, GENEVE 6081, none with native routing), GENEVE 6081 before Cilium is installed
    #[arg(long, value_name = "PORT|none")]
    pub tunnel_port: Option<TunnelOverride>,
    /// CNI plugin of the NetworkAttachmentDefinition cnicheck creates for scenarios with a
    /// `multus-network` (the `multus` suite).
    #[arg(long, value_enum, default_value = "macvlan", help_heading = "Multus")]
    pub multus_type: Plugin,
    /// The nodes' interface the plugin attaches pods to.
    #[arg(long, default_value = "eth1", help_heading = "Multus")]
    pub multus_master: String,
    /// Plugin mode: macvlan bridge (default), private, vepa, passthru; ipvlan l2 (default), l3, l3s.
    #[arg(long, help_heading = "Multus")]
    pub multus_mode: Option<String>,
    /// host-local IPAM range, START-END/PREFIX or a whole subnet; one address per attached pod.
    #[arg(
        long,
        default_value = "10.202.0.100-10.202.0.199/24",
        help_heading = "Multus"
    )]
    pub multus_range: IpRange,
    /// Gateway of the secondary network (inside the range's subnet); none by default.
    #[arg(long, help_heading = "Multus")]
    pub multus_gateway: Option<IpAddr>,
    /// Compare the run with an earlier one's JSON report and print what changed, as `cnicheck
    /// diff` does (the exit code stays the run's own). Read before anything else happens.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    Pretty,
    Terse,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PullPolicyArg {
    Always,
    IfNotPresent,
    Never,
}

impl From<PullPolicyArg> for PullPolicy {
    fn from(policy: PullPolicyArg) -> Self {
        match policy {
            PullPolicyArg::Always => PullPolicy::Always,
            PullPolicyArg::IfNotPresent => PullPolicy::IfNotPresent,
            PullPolicyArg::Never => PullPolicy::Never,
        }
    }
}

impl RunArgs {
    fn multus(&self) -> Result<NadOptions, MultusError> {
        NadOptions::new(
            self.multus_type,
            &self.multus_master,
            self.multus_mode.as_deref(),
            self.multus_range,
            self.multus_gateway,
        )
    }
}

/// `show_progress`: a progress bar on stderr if it is a terminal (not with logs, which would
/// print through it).
pub fn run(args: RunArgs, show_progress: bool) -> u8 {
    let multus = match args.multus() {
        Ok(multus) => multus,
        Err(error) => {
            eprintln!("cnicheck: {error}");
            return exit_code::USAGE;
        }
    };
    if let Err(error) = args.select.check_filters() {
        eprintln!("cnicheck: {error}");
        return exit_code::USAGE;
    }
    let scenarios = match load(&args) {
        Ok(scenarios) => scenarios,
        Err(errors) => {
            print_scenario_errors(&errors);
            return exit_code::TOOL_ERROR;
        }
    };
    let scenarios = match args.select.scenarios_in_groups(scenarios) {
        Ok(scenarios) => scenarios,
        Err(error) => {
            eprintln!("cnicheck: {error}");
            return exit_code::USAGE;
        }
    };
    let selections = args.select.select(&scenarios);
    if args.select.list {
        super::print_output(&select::list(&selections));
        return exit_code::SUCCESS;
    }
    if let Err(error) = args.select.check_not_empty(&selections) {
        eprintln!("cnicheck: {error}");
        return exit_code::NO_PROBES_RAN;
    }
    let selections: Vec<Selection<'_>> = selections
        .into_iter()
        .filter(|selection| !selection.selected.is_empty())
        .collect();
    let baseline = match args.baseline.as_deref().map(report::json::read).transpose() {
        Ok(baseline) => baseline,
        Err(error) => {
            eprintln!("cnicheck: {error}");
            return exit_code::TOOL_ERROR;
        }
    };
    if let Some(problem) = unchecked_expectation(&check_options(&args), &selections) {
        eprintln!("cnicheck: {problem}");
        return exit_code::USAGE;
    }

    let reporters = reporters(&args, &selections, baseline, show_progress);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let report = match runtime.block_on(run_on_cluster(&args, &selections, multus, reporters)) {
        Ok(report) => report,
        Err(code) => {
            // Interrupted twice, or the cluster failed: do not wait for blocking tasks (a
            // name lookup, a credential plugin) that may never end.
            runtime.shutdown_background();
            return code;
        }
    };
    exit_code::for_run(&report)
}

/// Who hears the run's events, in the order their output comes when it finishes: the bar goes
/// first, then the files are written, libtest prints its results on stdout, and the console its
/// summary on stderr.
fn reporters(
    args: &RunArgs,
    selections: &[Selection<'_>],
    baseline: Option<RunReport>,
    show_progress: bool,
) -> Fanout {
    let progress = ProgressReporter::stderr(show_progress);
    let console = Console::new(progress.lines_above(), colors_wanted(&std::io::stderr()));
    let mut sinks: Vec<Box<dyn EventSink>> = vec![Box::new(progress)];
    let files = [
        (FileFormat::Junit, &args.junit),
        (FileFormat::Json, &args.json),
    ];
    for (format, path) in files {
        if let Some(path) = path {
            sinks.push(Box::new(ReportFile {
                format,
                path: path.clone(),
            }));
        }
    }
    let selected = selections
        .iter()
        .map(|selection| SelectedTests {
            scenario: selection.scenario.scenario.name.value.clone(),
            cells: selection
                .selected
                .iter()
                .map(|&index| selection.cells[index].name.clone())
                .collect(),
        })
        .collect();
    let format = match args.format {
        OutputFormat::Pretty => libtest::Format::Pretty,
        OutputFormat::Terse => libtest::Format::Terse,
        OutputFormat::Json => libtest::Format::Json,
    };
    sinks.push(Box::new(LibtestReporter::new(
        selected,
        format,
        colors_wanted(&std::io::stdout()),
    )));
    sinks.push(Box::new(ConsoleReporter::new(console, baseline)));
    Fanout(sinks)
}

fn check_options(args: &RunArgs) -> CheckOptions {
    CheckOptions {
        cilium: cilium::Expectations {
            agent_image: args.expect_cilium_image.clone(),
            operator_image: args.expect_cilium_operator_image.clone(),
        },
    }
}

/// An expectation no selected test would check, which would otherwise pass unnoticed.
fn unchecked_expectation(options: &CheckOptions, selections: &[Selection<'_>]) -> Option<String> {
    options.cilium.tests().into_iter().find_map(|(flag, test)| {
        let checked = selections.iter().any(|selection| {
            selection.selected.iter().any(|&index| {
                matches!(
                    selection.cells[index].kind,
                    CellKind::Check { check: BuiltinCheck::Cilium, test: selected }
                        if selected == test
                )
            })
        });
        (!checked).then(|| {
            format!(
                "{flag} is checked by the test cilium::{test} (group cilium), which this run does \
                 not select: see --group, --scenarios, the filter and --skip"
            )
        })
    })
}

fn load(args: &RunArgs) -> Result<Vec<LoadedScenario>, Vec<scenario::ScenarioError>> {
    if args.scenarios.is_empty() {
        Ok(scenario::builtin())
    } else {
        let options = scenario::LoadOptions {
            allow_manifests_outside: args.allow_outside_manifests,
        };
        scenario::load_all_with(&args.scenarios, &options)
    }
}

async fn run_on_cluster(
    args: &RunArgs,
    selections: &[Selection<'_>],
    multus: NadOptions,
    reporters: Fanout,
) -> Result<RunReport, u8> {
    let mut interrupts = Interrupts::listen();
    let api_timeout = Duration::from_secs(args.api_timeout);
    let connected = cluster::connect(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
        api_timeout,
    )
    .await
    .map_err(|error| {
        eprintln!("cnicheck: {error}");
        exit_code::TOOL_ERROR
    })?;
    let (client, server) = (connected.client, connected.server);
    let run = RunId::generate();
    eprintln!(
        "cnicheck run {run}: {} scenario(s) on {server}",
        selections.len()
    );
    let options = RunOptions {
        images: Images {
            registry: args.image_registry.clone(),
            agent: args.agent_image.clone(),
            pull_policy: args.pull_policy.into(),
        },
        external: args.external_target.clone().map(ExternalTarget),
        setup_timeout: Duration::from_secs(args.setup_timeout),
        propagation_timeout: Duration::from_secs(args.propagation_timeout),
        settle: Duration::from_secs(args.settle),
        confirm: Duration::from_secs_f64(args.confirm),
        retries: args.retries,
        keep: args.keep,
        artifacts: args.artifacts.clone(),
        parallel: args
            .test_threads
            .map_or(selections.len().max(1), usize::from),
        checks: check_options(args),
        tunnel_port: args.tunnel_port,
        multus,
        kubectl: Kubectl::new(args.kubeconfig.as_deref(), args.context.as_deref()),
    };
    let remove_command = options.kubectl.cleanup_command(&run);
    let arguments: Vec<String> = std::env::args().collect();
    let code = tokio::select! {
        outcome = runner::run(
            client.clone(),
            run.clone(),
            selections,
            options,
            arguments,
            Arc::new(reporters),
        ) => {
            match outcome {
                Ok(report) => return Ok(report),
                Err(error) if error.server_unreachable() => {
                    eprintln!(
                        "cnicheck: {}\ncnicheck: run {run} may have left objects (namespaces {}*); \
                         once the server answers, remove them with `{remove_command}`",
                        server.failed(&error),
                        run.namespace()
                    );
                    return Err(exit_code::TOOL_ERROR);
                }
                // The preflight's namespace may exist already: a failed run still cleans up.
                Err(error) => {
                    eprintln!("cnicheck: {}", server.failed(&error));
                    exit_code::TOOL_ERROR
                }
            }
        }
        code = interrupts.next() => {
            eprintln!("cnicheck: interrupted");
            code
        }
    };
    // Deletions get the setup timeout, and finding what to delete a call or two more.
    let cleanup_timeout = Duration::from_secs(args.setup_timeout) + 2 * api_timeout;
    eprintln!(
        "cnicheck: removing everything run {run} created (for up to {} s; interrupt again to \
         stop and leave it) ...",
        cleanup_timeout.as_secs()
    );
    tokio::select! {
        outcome = cluster::cleanup_leftovers(&client, Some(run.as_str()), cleanup_timeout) => {
            match outcome {
                Ok(report) if report.failures.is_empty() => {
                    eprintln!("cnicheck: removed {} object(s)", report.removed.len());
                }
                Ok(report) => {
                    for failure in &report.failures {
                        eprintln!("cnicheck: could not remove: {}", server.failed(failure));
                    }
                    eprintln!(
                        "cnicheck: removed {} object(s), {} left; `{remove_command}` retries",
                        report.removed.len(),
                        report.failures.len()
                    );
                }
                Err(error) => eprintln!(
                    "cnicheck: cleanup failed: {}\ncnicheck: run `{remove_command}` to remove what \
                     run {run} left",
                    server.failed(&error)
                ),
            }
            Err(code)
        }
        code = interrupts.next() => {
            eprintln!(
                "cnicheck: interrupted: stopped cleaning up; left in place: whatever run \
                 {run} created (namespaces {}*, objects labelled {}={run}) on {server}\n\
                 cnicheck: remove it with `{remove_command}`",
                run.namespace(),
                cluster::labels::RUN,
            );
            Err(code)
        }
    }
}

/// SIGINT and SIGTERM, caught from the start so that each one is seen (not only the first:
/// a second one must stop the cleanup the first one started).
struct Interrupts {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn listen() -> Interrupts {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupts {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves on the next Ctrl-C (exit code 130) or SIGTERM (143).
    async fn next(&mut self) -> u8 {
        async fn on(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = on(&mut self.interrupt) => exit_code::INTERRUPTED,
            () = on(&mut self.terminate) => exit_code::TERMINATED,
        }
    }
}

/// `--confirm`: seconds from 0 to 60 (a second round always happens; this only spaces it).
fn confirm_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..=60.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds from 0 to 60")),
    }
}
