//! The cluster module against a real cluster: `$KUBECONFIG` (or in-cluster config).
//!
//! Ignored by default; run with
//! `KUBECONFIG=... cargo test -p cnicheck --test cluster_live -- --ignored --test-threads 1`.
//! `CNICHECK_AGENT_IMAGE` (default `localhost/cnicheck-agent:dev`) and `CNICHECK_PULL_POLICY`
//! (`Never`, `IfNotPresent` (default) or `Always`) select the agent image. Everything created
//! lives in a `cnicheck-<run>` namespace and is deleted at the end, pass or fail.

use cnicheck::cluster::{
    self, ApplyContext, ClusterError, Images, PodRef, PullPolicy, RunId, WaitOptions,
    WorkloadContext,
};
use cnicheck::probe::{Outcome, ProbeAction, ProbeRequest, ports};
use cnicheck::scenario::model::{NamespaceSpec, Workload};
use kube::Client;
use std::collections::BTreeMap;
use std::time::Duration;

const DELETE_TIMEOUT: Duration = Duration::from_secs(120);

fn images() -> Images {
    let pull_policy = match std::env::var("CNICHECK_PULL_POLICY").as_deref() {
        Ok("Never") => PullPolicy::Never,
        Ok("Always") => PullPolicy::Always,
        _ => PullPolicy::IfNotPresent,
    };
    Images {
        agent: Some(
            std::env::var("CNICHECK_AGENT_IMAGE")
                .unwrap_or_else(|_| "localhost/cnicheck-agent:dev".into()),
        ),
        pull_policy,
        ..Images::default()
    }
}

fn workload(yaml: &str) -> Workload {
    serde_saphyr::from_str(yaml).expect("test workload parses")
}

/// Creates a run namespace, runs `body` in it, then deletes everything of the run.
async fn in_run_namespace<F, Fut>(body: F) -> Result<(), ClusterError>
where
    F: FnOnce(Client, RunId) -> Fut,
    Fut: Future<Output = Result<(), ClusterError>>,
{
    let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
        .await?
        .client;
    let run = RunId::generate();
    eprintln!("run {run}");
    cluster::create_namespace(&client, &run.namespace(), &run, &NamespaceSpec::default()).await?;
    let outcome = body(client.clone(), run.clone()).await;
    if let Err(error) = &outcome {
        eprintln!("failed: {error}");
        let dir = std::env::temp_dir().join(format!("cnicheck-{run}"));
        match cluster::dump_namespace(&client, &run.namespace(), &dir).await {
            Ok(summary) => eprintln!(
                "diagnostics: {} files in {}",
                summary.files.len(),
                dir.display()
            ),
            Err(error) => eprintln!("diagnostics failed: {error}"),
        }
    }
    cluster::delete_namespace(&client, &run.namespace(), DELETE_TIMEOUT).await?;
    let leftovers = cluster::cleanup_leftovers(&client, Some(run.as_str()), DELETE_TIMEOUT).await?;
    assert!(
        leftovers.removed.is_empty(),
        "left behind: {:?}",
        leftovers.removed
    );
    assert!(
        leftovers.failures.is_empty(),
        "cleanup failed: {:?}",
        leftovers.failures
    );
    outcome
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn inspects_the_cluster() -> Result<(), ClusterError> {
    let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
        .await?
        .client;
    let cilium = cluster::find_cilium(&client).await?;
    let cni = cluster::detect_cni(&client).await?;
    eprintln!("{cni:?}");
    // The two detections of Cilium must agree.
    assert_eq!(cilium.is_some(), cni.name == "cilium", "{cilium:?}");
    assert!(cluster::server_version(&client).await?.starts_with('v'));
    let nodes = cluster::list_nodes(&client).await?;
    eprintln!("{nodes:?}");
    assert!(!nodes.is_empty());
    let missing = cluster::missing_crds(&client, &["no-such-things.example.com".into()]).await?;
    assert_eq!(missing, vec!["no-such-things.example.com".to_string()]);
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster and the agent image"]
async fn deploys_agents_and_runs_probes() -> Result<(), ClusterError> {
    in_run_namespace(|client, run| async move {
        let nodes: Vec<String> = cluster::list_nodes(&client)
            .await?
            .into_iter()
            .filter(|node| node.schedulable)
            .map(|node| node.name)
            .collect();
        let workloads = [
            workload("name: server\nservice: {type: NodePort}\n"),
            workload("name: client\nplacement: {same-node-as: server}\n"),
        ];
        let plan = cluster::plan_nodes(&workloads, &nodes)?;
        let images = images();
        let namespace = run.namespace();
        let context = WorkloadContext {
            run: &run,
            scenario: "cluster-live",
            namespace: &namespace,
            images: &images,
            listen: &cluster::ListenPorts::default(),
        };
        let mut names = Vec::new();
        for (workload, nodes) in workloads.iter().zip(&plan) {
            let pods = cluster::build_pods(workload, nodes, &context)?;
            let service = cluster::build_service(workload, &context)?;
            names.extend(pods.iter().filter_map(|pod| pod.metadata.name.clone()));
            cluster::create_workload(&client, &pods, service.as_ref()).await?;
        }
        let options = WaitOptions {
            timeout: Duration::from_secs(120),
            ..WaitOptions::default()
        };
        let pods = cluster::wait_for_pods_ready(&client, &namespace, &names, options).await?;
        cluster::wait_for_service_endpoints(
            &client,
            &namespace,
            "server",
            &["server-0".into()],
            Duration::from_secs(60),
        )
        .await?;
        let server_ip = pods
            .iter()
            .find(|pod| pod.metadata.name.as_deref() == Some("server-0"))
            .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
            .expect("server-0 has an IP");
        let requests = vec![
            ProbeRequest {
                id: 1,
                action: ProbeAction::Tcp {
                    host: server_ip.clone(),
                    port: ports::TCP_ECHO,
                },
                timeout_ms: 2000,
                interface: None,
                samples: None,
            },
            ProbeRequest {
                id: 2,
                action: ProbeAction::Http {
                    url: format!("http://server.{namespace}.svc:{}/", ports::HTTP),
                },
                timeout_ms: 2000,
                interface: None,
                samples: None,
            },
        ];
        let client_pod = PodRef {
            namespace: namespace.clone(),
            name: "client-0".into(),
        };
        let deadline = cluster::batch_deadline(&requests);
        let agents = cluster::AgentSessions::new(client.clone());
        // Twice: the second batch goes down the session the first one opened.
        for _ in 0..2 {
            let results = agents.run_batch(&client_pod, &requests, deadline).await;
            eprintln!("{results:?}");
            assert_eq!(results.len(), 2);
            for result in &results {
                assert!(
                    !matches!(result.outcome, Outcome::CouldNotRun { .. }),
                    "{result:?}"
                );
            }
        }

        let gone = PodRef {
            namespace: namespace.clone(),
            name: "no-such-pod".into(),
        };
        let results = agents.run_batch(&gone, &requests, deadline).await;
        assert!(matches!(&results[0].outcome, Outcome::CouldNotRun { reason } if reason.contains("gone")));

        let policy = cluster::parse_manifests(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-all\n\
             spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
        )?;
        let namespaces = BTreeMap::from([("default".to_string(), namespace.clone())]);
        let apply = ApplyContext {
            run: &run,
            scenario: "cluster-live",
            namespaces: &namespaces,
            values: &|_| Err("no run-time values here".to_owned()),
        };
        let validated = cluster::apply_manifests(&client, &policy, &apply, true).await?;
        assert_eq!(validated.len(), 1);
        let applied = cluster::apply_manifests(&client, &policy, &apply, false).await?;
        cluster::delete_applied(&client, &applied, DELETE_TIMEOUT).await?;

        let unknown = cluster::parse_manifests(
            "apiVersion: example.com/v1\nkind: NoSuchKind\nmetadata:\n  name: x\n",
        )?;
        let error = cluster::apply_manifests(&client, &unknown, &apply, true)
            .await
            .expect_err("unknown kinds are refused");
        assert!(
            matches!(
                error,
                ClusterError::Manifest(cnicheck::cluster::ManifestError::UnknownKind { .. })
            ),
            "{error}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn reports_a_missing_image_without_waiting_out_the_timeout() -> Result<(), ClusterError> {
    in_run_namespace(|client, run| async move {
        let images = Images {
            agent: Some("localhost/cnicheck-no-such-image:0".into()),
            pull_policy: PullPolicy::Never,
            ..Images::default()
        };
        let namespace = run.namespace();
        let context = WorkloadContext {
            run: &run,
            scenario: "cluster-live",
            namespace: &namespace,
            images: &images,
            listen: &cluster::ListenPorts::default(),
        };
        let pods = cluster::build_pods(&workload("name: broken\n"), &[None], &context)?;
        cluster::create_workload(&client, &pods, None).await?;
        let started = std::time::Instant::now();
        let options = WaitOptions {
            timeout: Duration::from_secs(300),
            ..WaitOptions::default()
        };
        let error =
            cluster::wait_for_pods_ready(&client, &namespace, &["broken-0".into()], options)
                .await
                .expect_err("the image does not exist");
        eprintln!("{error}");
        assert!(started.elapsed() < Duration::from_secs(120));
        match error {
            ClusterError::PodsNotReady { problems, .. } => {
                assert_eq!(problems[0].reason, "ErrImageNeverPull");
            }
            other => panic!("unexpected error: {other}"),
        }
        Ok(())
    })
    .await
}
