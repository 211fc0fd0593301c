use super::*;
use serde_json::{Value, json};

const RUN: &str = "t0abcd1234";

fn workload(yaml: &str) -> Workload {
    serde_saphyr::from_str(yaml).expect("test workload parses")
}

#[test]
fn only_a_missing_default_service_account_is_waited_for() {
    use kube::core::Status;
    let refusal = |message: &str| {
        kube::Error::Api(Status::failure(message, "Forbidden").with_code(403).boxed())
    };
    assert!(lacks_default_service_account(&refusal(
        "pods \"client-0\" is forbidden: error looking up service account \
         cnicheck-x-s21/default: serviceaccount \"default\" not found"
    )));
    assert!(!lacks_default_service_account(&refusal(
        "pods is forbidden: User \"system:serviceaccount:ci:cnicheck\" cannot create resource"
    )));
}

fn with_context<T>(images: &Images, build: impl FnOnce(&WorkloadContext<'_>) -> T) -> T {
    let run = RunId::parse(RUN).unwrap();
    build(&WorkloadContext {
        run: &run,
        scenario: "pod-to-pod",
        namespace: "cnicheck-t0abcd1234",
        images,
        listen: &ListenPorts::default(),
    })
}

/// The pods as the API server would receive them.
fn pods_json(yaml: &str, nodes: &[Option<&str>]) -> Vec<Value> {
    let nodes: Vec<Option<String>> = nodes.iter().map(|node| node.map(str::to_string)).collect();
    let pods = with_context(&Images::default(), |context| {
        build_pods(&workload(yaml), &nodes, context)
    })
    .expect("pods build");
    pods.iter()
        .map(|pod| serde_json::to_value(pod).unwrap())
        .collect()
}

#[test]
fn plain_pods_are_unprivileged_agents_with_stable_names() {
    let pods = pods_json("name: server\nlabels: {tier: backend}\n", &[None, None]);
    assert_eq!(pods.len(), 2);
    let pod = &pods[0];
    assert_eq!(pod["metadata"]["name"], "server-0");
    assert_eq!(pods[1]["metadata"]["name"], "server-1");
    assert_eq!(pod["metadata"]["namespace"], "cnicheck-t0abcd1234");
    assert_eq!(
        pod["metadata"]["labels"],
        json!({
            "app.kubernetes.io/managed-by": "cnicheck",
            "cnicheck.io/run": RUN,
            "cnicheck.io/scenario": "pod-to-pod",
            "cnicheck.io/workload": "server",
            "tier": "backend"
        })
    );
    assert_eq!(pod["metadata"].get("annotations"), None);

    let spec = &pod["spec"];
    assert_eq!(spec.get("affinity"), None);
    assert_eq!(spec.get("nodeName"), None);
    assert_eq!(spec.get("hostNetwork"), None);
    assert_eq!(spec.get("dnsPolicy"), None);
    assert_eq!(spec["terminationGracePeriodSeconds"], 1);
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(
        spec["securityContext"],
        json!({
            "runAsNonRoot": true,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 2147483647"}]
        })
    );

    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let agent = &containers[0];
    assert_eq!(agent["name"], AGENT_CONTAINER);
    assert_eq!(
        agent["image"],
        format!("ghcr.io/cnicheck/agent:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(agent["imagePullPolicy"], "IfNotPresent");
    assert_eq!(agent["command"], json!(["/cnicheck", "agent", "serve"]));
    assert_eq!(
        agent["env"],
        json!([
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
        ])
    );
    assert_eq!(
        agent["ports"],
        json!([
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "http-alt", "containerPort": 8081, "protocol": "TCP"},
            {"name": "tcp-echo", "containerPort": 9000, "protocol": "TCP"},
            {"name": "udp-echo", "containerPort": 9001, "protocol": "UDP"}
        ])
    );
    assert_eq!(
        agent["readinessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(agent["terminationMessagePolicy"], "FallbackToLogsOnError");
    assert_eq!(
        agent["securityContext"],
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
    );
}

#[test]
fn planned_nodes_become_required_node_affinity_not_node_name() {
    let pods = pods_json(
        "name: server\nplacement: every-node\n",
        &[Some("worker-1"), Some("worker-2")],
    );
    assert_eq!(pods.len(), 2);
    for (pod, node) in pods.iter().zip(["worker-1", "worker-2"]) {
        assert_eq!(pod["spec"].get("nodeName"), None);
        assert_eq!(
            pod["spec"]["affinity"],
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node]}
                ]}]
            }}})
        );
    }
}

#[test]
fn host_network_pods_get_net_raw_and_cluster_dns_but_no_sysctls() {
    let pods = pods_json(
        "name: node-agent\nhost-network: true\n",
        &[Some("worker-1")],
    );
    let spec = &pods[0]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(
        spec["securityContext"],
        json!({"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        spec["containers"][0]["securityContext"],
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}})
    );
}

#[test]
fn node_ports_under_test_are_listened_on_where_free() {
    let run = RunId::parse(RUN).unwrap();
    let context = WorkloadContext {
        run: &run,
        scenario: "node-ports",
        namespace: "cnicheck-t0abcd1234",
        images: &Images::default(),
        listen: &ListenPorts {
            tcp: vec![4240],
            udp: Vec::new(),
        },
    };
    let pods = build_pods(
        &workload("name: node\nhost-network: true\n"),
        &[Some("worker-1".into())],
        &context,
    )
    .unwrap();
    let pod = serde_json::to_value(&pods[0]).unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["command"],
        json!(["/cnicheck", "agent", "serve", "--tcp-listen", "4240"])
    );
    let declared = pod["spec"]["containers"][0]["ports"].as_array().unwrap();
    assert_eq!(declared.len(), AGENT_PORTS.len(), "{declared:?}");
}

#[test]
fn probed_ports_below_1024_are_listened_on_with_the_safe_sysctl_that_allows_it() {
    let run = RunId::parse(RUN).unwrap();
    let listen = ListenPorts {
        tcp: vec![80, 81],
        udp: vec![80],
    };
    let context = WorkloadContext {
        run: &run,
        scenario: "table",
        namespace: "cnicheck-t0abcd1234",
        images: &Images::default(),
        listen: &listen,
    };
    let pods = build_pods(&workload("name: a\n"), &[None], &context).unwrap();
    let pod = serde_json::to_value(&pods[0]).unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["command"],
        json!([
            "/cnicheck",
            "agent",
            "serve",
            "--tcp-listen",
            "80",
            "--tcp-listen",
            "81",
            "--udp-listen",
            "80"
        ])
    );
    let extra_ports: Vec<&Value> = pod["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .skip(AGENT_PORTS.len())
        .collect();
    assert_eq!(
        extra_ports,
        [
            &json!({"name": "serve-80-tcp", "containerPort": 80, "protocol": "TCP"}),
            &json!({"name": "serve-81-tcp", "containerPort": 81, "protocol": "TCP"}),
            &json!({"name": "serve-80-udp", "containerPort": 80, "protocol": "UDP"}),
        ]
    );
    assert_eq!(
        pod["spec"]["securityContext"]["sysctls"],
        json!([
            {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"},
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
        ])
    );
}

#[test]
fn multus_networks_become_the_networks_annotation() {
    let pods = pods_json(
        "name: multi\nnetworks: [macvlan-a, other/macvlan-b]\n",
        &[None],
    );
    assert_eq!(
        pods[0]["metadata"]["annotations"],
        json!({"k8s.v1.cni.cncf.io/networks": "macvlan-a,other/macvlan-b"})
    );
    assert_eq!(pods[0]["spec"].get("hostNetwork"), None);
}

#[test]
fn invalid_workloads_are_refused() {
    let build = |yaml: &str| {
        with_context(&Images::default(), |context| {
            build_pods(&workload(yaml), &[None], context)
        })
        .unwrap_err()
        .to_string()
    };
    assert!(build("name: x\nhost-network: true\nnetworks: [a]\n").contains("host-network"));
    assert!(build("name: x\nlabels: {cnicheck.io/workload: y}\n").contains("cnicheck.io/workload"));
    assert!(build("name: Server\n").contains("invalid workload name"));
}

#[test]
fn registry_prefixes_are_host_and_path_only() {
    for good in [
        "registry.local:5000",
        "harbor.example.com/proxy/ghcr",
        "ghcr.io",
    ] {
        assert_eq!(parse_registry_prefix(good).as_deref(), Ok(good));
    }
    for (bad, why) in [
        ("", "empty"),
        ("/", "empty"),
        (
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "scheme",
        ),
        ("registry.local/mirror:v1", "has a tag"),
        ("registry.local//mirror", "empty path segment"),
        ("registry.local/mirror@sha256:ab", "not a registry prefix"),
        ("registry.local mirror", "not a registry prefix"),
    ] {
        let error = parse_registry_prefix(bad).unwrap_err().to_string();
        assert!(error.contains(why), "{bad:?}: {error}");
    }
}

#[test]
fn images_come_from_the_registry_or_an_override() {
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        Images::default().agent_image(),
        format!("ghcr.io/cnicheck/agent:{version}")
    );
    let ecr = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mirror";
    let mirror = Images {
        registry: Some(parse_registry_prefix(&format!("{ecr}/")).unwrap()),
        ..Images::default()
    };
    assert_eq!(
        mirror.agent_image(),
        format!("{ecr}/cnicheck/agent:{version}")
    );
    let both = Images {
        agent: Some("localhost/cnicheck-agent:dev".into()),
        ..mirror
    };
    assert_eq!(both.agent_image(), "localhost/cnicheck-agent:dev");
    let testbed = Images {
        agent: Some("localhost/cnicheck-agent:dev".into()),
        pull_policy: PullPolicy::Never,
        ..Images::default()
    };
    let nodes = [None];
    let pods = with_context(&testbed, |context| {
        build_pods(&workload("name: a\n"), &nodes, context)
    })
    .unwrap();
    let agent = &pods[0].spec.as_ref().unwrap().containers[0];
    assert_eq!(agent.image.as_deref(), Some("localhost/cnicheck-agent:dev"));
    assert_eq!(agent.image_pull_policy.as_deref(), Some("Never"));
}

#[test]
fn services_expose_every_agent_port_by_name() {
    let service = with_context(&Images::default(), |context| {
        build_service(
            &workload("name: server\nservice: {type: NodePort}\n"),
            context,
        )
    })
    .unwrap()
    .expect("a service");
    let service = serde_json::to_value(&service).unwrap();
    assert_eq!(service["metadata"]["name"], "server");
    assert_eq!(service["metadata"]["labels"]["cnicheck.io/run"], RUN);
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(
        service["spec"]["selector"],
        json!({"cnicheck.io/run": RUN, "cnicheck.io/workload": "server"})
    );
    assert_eq!(
        service["spec"]["ports"],
        json!([
            {"name": "http", "port": 8080, "protocol": "TCP", "targetPort": "http"},
            {"name": "http-alt", "port": 8081, "protocol": "TCP", "targetPort": "http-alt"},
            {"name": "tcp-echo", "port": 9000, "protocol": "TCP", "targetPort": "tcp-echo"},
            {"name": "udp-echo", "port": 9001, "protocol": "UDP", "targetPort": "udp-echo"}
        ])
    );

    let cluster_ip = with_context(&Images::default(), |context| {
        build_service(&workload("name: server\nservice: {}\n"), context)
    })
    .unwrap()
    .expect("a service");
    assert_eq!(cluster_ip.spec.unwrap().type_.as_deref(), Some("ClusterIP"));

    let none = with_context(&Images::default(), |context| {
        build_service(&workload("name: server\n"), context)
    });
    assert!(none.unwrap().is_none());

    let bad = with_context(&Images::default(), |context| {
        build_service(&workload("name: 1server\nservice: {}\n"), context)
    });
    assert!(bad.is_err());
}
