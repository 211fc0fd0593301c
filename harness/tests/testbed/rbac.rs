//! The documented RBAC role is all a run needs.

use crate::support::*;
use cnicheck::cluster::{self};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use std::path::Path;
use std::process::Command;

/// The objects of `manifests/rbac/` (ClusterRole, Namespace, ServiceAccount, binding).
pub(crate) fn rbac_manifests() -> Vec<DynamicObject> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/rbac");
    ["cnicheck-clusterrole.yaml", "cnicheck-serviceaccount.yaml"]
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            cluster::parse_manifests(&text).unwrap()
        })
        .collect()
}

pub(crate) async fn api_for(client: &Client, object: &DynamicObject) -> Api<DynamicObject> {
    let types = object.types.as_ref().unwrap();
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    match &object.metadata.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Removes the RBAC example's objects when dropped, also when the test fails.
pub(crate) struct RbacExample(Vec<DynamicObject>);

impl RbacExample {
    pub(crate) fn apply() -> Self {
        let objects = rbac_manifests();
        block_on(async {
            let client = testbed_client().await;
            for object in &objects {
                api_for(&client, object)
                    .await
                    .patch(
                        &object.name_any(),
                        &PatchParams::apply("cnicheck-testbed-test"),
                        &Patch::Apply(object),
                    )
                    .await
                    .unwrap();
            }
        });
        RbacExample(objects)
    }
}

impl Drop for RbacExample {
    fn drop(&mut self) {
        block_on(async {
            let client = testbed_client().await;
            for object in self.0.iter().rev() {
                let api = api_for(&client, object).await;
                if let Err(error) = api
                    .delete(&object.name_any(), &DeleteParams::default())
                    .await
                {
                    eprintln!("could not delete {}: {error}", object.name_any());
                }
            }
        });
    }
}

/// A kubeconfig for the testbed's API server that authenticates with a fresh token of the
/// example's ServiceAccount (what `kubectl create token` mints, through the TokenRequest API).
pub(crate) fn service_account_kubeconfig(path: &Path) {
    let token = block_on(async {
        let client = testbed_client().await;
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        Api::<ServiceAccount>::namespaced(client, "cnicheck")
            .create_token_request("cnicheck", &PostParams::default(), &request)
            .await
            .unwrap()
            .status
            .unwrap()
            .token
    });
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG names the testbed's");
    let admin = kube::config::Kubeconfig::read_from(admin).unwrap();
    let cluster = serde_json::to_value(&admin.clusters[0]).unwrap();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "cnicheck", "user": {"token": token}}],
        "contexts": [{"name": "cnicheck", "context": {"cluster": cluster["name"], "user": "cnicheck"}}],
        "current-context": "cnicheck",
    });
    std::fs::write(path, kubeconfig.to_string()).unwrap();
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn builtin_suites_pass_as_a_service_account_with_only_the_documented_role() {
    let dir = workdir("rbac");
    let example = RbacExample::apply();
    let kubeconfig = dir.join("service-account.kubeconfig");
    service_account_kubeconfig(&kubeconfig);
    let kubeconfig_arg = kubeconfig.display().to_string();

    // The kubeconfig really is the ServiceAccount, not an admin.
    let secrets = block_on(async {
        let client = cluster::connect(Some(&kubeconfig), None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
        Api::<Secret>::all(client)
            .list(&ListParams::default())
            .await
    });
    assert!(
        matches!(&secrets, Err(kube::Error::Api(status)) if status.is_forbidden()),
        "{secrets:?}"
    );

    let (output, report) = run(&dir, &["--kubeconfig", &kubeconfig_arg]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    assert_eq!((tally.failed, tally.errors, tally.setup_errors), (0, 0, 0));
    for needed in ["network-policy", "multus", "pod-to-service"] {
        let scenario = report.scenarios.iter().find(|s| s.name == needed).unwrap();
        assert!(
            scenario.skipped.is_none() && !scenario.probes.is_empty(),
            "{needed} did not run: {:?}",
            scenario.skipped
        );
    }
    assert!(
        cnicheck_namespaces().is_empty(),
        "the run left namespaces behind"
    );

    let cleanup = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .args(["cleanup", "--kubeconfig", &kubeconfig_arg])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cleanup.stderr);
    eprintln!("{stderr}");
    assert!(cleanup.status.success(), "cleanup with the role: {stderr}");
    assert!(stderr.contains("cleanup: 0 removed, 0 failed"), "{stderr}");
    drop(example);
}
