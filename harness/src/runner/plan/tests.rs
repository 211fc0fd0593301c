use super::destination::Receiving;
use super::*;
use crate::runner::cells::cells;
use crate::scenario;
use std::collections::BTreeMap;

fn builtin(name: &str) -> scenario::LoadedScenario {
    scenario::builtin()
        .into_iter()
        .find(|loaded| loaded.scenario.name.value == name)
        .unwrap()
}

/// The node-ports suite as deployed on three nodes: one host-network agent per node, whose
/// address is its node's.
fn three_node_agents() -> Deployment {
    let pods = (1..=3)
        .map(|n| DeployedPod {
            namespace: "cnicheck-t-s0".into(),
            name: format!("node-{n}"),
            node: format!("node{n}"),
            ip: format!("10.0.0.{n}"),
            interfaces: BTreeMap::new(),
        })
        .collect();
    Deployment {
        namespaces: BTreeMap::from([("default".into(), "cnicheck-t-s0".into())]),
        workloads: BTreeMap::from([(
            "node".into(),
            DeployedWorkload {
                pods,
                service: None,
            },
        )]),
        nodes: Vec::new(),
        network_ranges: BTreeMap::new(),
    }
}

fn plan_node_ports(tunnel: &Tunnel) -> (Vec<PlannedProbe>, Vec<Unplannable>) {
    let loaded = builtin("node-ports");
    let cells = cells(&loaded);
    let selected: Vec<usize> = (0..cells.len()).collect();
    let phase = &loaded.scenario.phases[0];
    let deployment = three_node_agents();
    plan_phase(0, phase, &cells, &selected, &deployment, targets(tunnel))
}

fn targets(tunnel: &Tunnel) -> RunTargets<'_> {
    RunTargets {
        external: None,
        tunnel,
        consistent_hashing_skip: "no maglev in tests",
        affinity_ignored: None,
    }
}

fn vxlan() -> Tunnel {
    Tunnel::Udp {
        port: 8472,
        overlay: "Cilium's VXLAN".into(),
    }
}

/// The load-balancing suite as deployed: two clients, three `server` pods and two `sticky`
/// pods behind their Services.
fn balancing_deployment() -> Deployment {
    use k8s_openapi::api::core::v1::{Service, ServiceSpec};
    let pods = |workload: &str, count: u32| -> Vec<DeployedPod> {
        (0..count)
            .map(|n| DeployedPod {
                namespace: "cnicheck-t-s0".into(),
                name: format!("{workload}-{n}"),
                node: format!("node{n}"),
                ip: format!("10.244.{n}.{}", workload.len()),
                interfaces: BTreeMap::new(),
            })
            .collect()
    };
    let service = |ip: &str| Service {
        spec: Some(ServiceSpec {
            cluster_ip: Some(ip.into()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let workload = |pods, service| DeployedWorkload { pods, service };
    Deployment {
        namespaces: BTreeMap::from([("default".into(), "cnicheck-t-s0".into())]),
        workloads: BTreeMap::from([
            ("client".into(), workload(pods("client", 2), None)),
            (
                "server".into(),
                workload(pods("server", 3), Some(service("10.96.0.10"))),
            ),
            (
                "sticky".into(),
                workload(pods("sticky", 2), Some(service("10.96.0.11"))),
            ),
        ]),
        nodes: Vec::new(),
        network_ranges: BTreeMap::new(),
    }
}

#[test]
fn balance_cells_sample_each_service_from_each_client_and_consistency_is_skipped() {
    let loaded = builtin("load-balancing");
    let cells = cells(&loaded);
    let selected: Vec<usize> = (0..cells.len()).collect();
    let deployment = balancing_deployment();
    let phase = &loaded.scenario.phases[0];
    let (planned, unplannable) =
        plan_phase(0, phase, &cells, &selected, &deployment, targets(&vxlan()));
    // Spread and affinity, over HTTP and UDP, from each of the two clients.
    assert_eq!(planned.len(), 8);
    for probe in &planned {
        let PlannedKind::Balance(balance) = &probe.kind else {
            panic!("{} is not a balance check", probe.name);
        };
        assert!(probe.receivers().is_empty(), "{}", probe.name);
        assert_eq!(probe.path(), Some(PathClass::Service));
        assert_eq!(probe.request.samples, Some(balance.samples));
        let (backends, samples) = match balance.balance {
            Balance::Spread => (vec!["server-0", "server-1", "server-2"], 60),
            Balance::Affinity => (vec!["sticky-0", "sticky-1"], 20),
            Balance::Consistent => panic!("consistent is never planned here"),
        };
        assert_eq!(balance.backends, backends, "{}", probe.name);
        assert_eq!(balance.samples, samples, "{}", probe.name);
    }
    assert_eq!(unplannable.len(), 1);
    assert!(unplannable[0].reason.skips());
    assert_eq!(unplannable[0].reason.to_string(), "no maglev in tests");
    assert!(cells[unplannable[0].cell].name.ends_with(":maglev"));
}

#[test]
fn node_checks_go_between_every_ordered_pair_of_distinct_nodes() {
    let (planned, unplannable) = plan_node_ports(&vxlan());
    assert!(unplannable.is_empty(), "{unplannable:?}");
    // Three checks (ICMP, TCP 4240, the tunnel port) for each of the 3 x 2 ordered pairs.
    assert_eq!(planned.len(), 18);
    for probe in &planned {
        let (from, to) = probe.between_nodes().unwrap();
        assert_ne!(from, to, "{}", probe.name);
        assert_eq!(from, probe.source.node);
    }
    let mut pairs: Vec<_> = planned
        .iter()
        .filter(|probe| probe.protocol == Protocol::Icmp)
        .map(|probe| probe.between_nodes().unwrap())
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
}

#[test]
fn the_tunnel_port_is_sent_and_its_delivery_confirmed_by_the_receiving_node() {
    let (planned, _) = plan_node_ports(&vxlan());
    let tunnel: Vec<_> = planned
        .iter()
        .filter(|probe| probe.protocol == Protocol::Udp)
        .collect();
    assert_eq!(tunnel.len(), 6);
    for probe in tunnel {
        assert_eq!(probe.port, Some(8472));
        let traffic = probe.traffic().unwrap();
        assert_eq!(traffic.overlay.as_deref(), Some("Cilium's VXLAN"));
        let ProbeAction::UdpSend { port, marker, .. } = &probe.request.action else {
            panic!("{:?}", probe.request.action);
        };
        let [receiver] = &traffic.receivers[..] else {
            panic!("one receiver confirms delivery: {:?}", traffic.receivers);
        };
        let (_, to) = probe.between_nodes().unwrap();
        assert_eq!(receiver.pod.name, format!("node-{}", &to[4..]));
        assert_eq!(
            receiver.request.action,
            ProbeAction::UdpReceive {
                port: *port,
                marker: marker.clone()
            }
        );
        assert!(receiver.request.timeout_ms > probe.request.timeout_ms);
    }
}

#[test]
fn without_an_overlay_tunnel_cells_are_skipped_and_unknown_ones_are_errors() {
    let absent = Tunnel::Absent {
        reason: "native routing".into(),
    };
    let (planned, unplannable) = plan_node_ports(&absent);
    assert_eq!(planned.len(), 12, "ICMP and TCP still run");
    assert_eq!(unplannable.len(), 1, "one tunnel cell");
    assert!(unplannable[0].reason.skips());
    let unknown = Tunnel::Unknown {
        problem: "cilium-config cannot be read".into(),
    };
    let (_, unplannable) = plan_node_ports(&unknown);
    assert_eq!(unplannable.len(), 1);
    assert!(
        !unplannable[0].reason.skips(),
        "an unknown tunnel is an error"
    );
}

#[test]
fn udp_to_an_agent_has_a_receiving_half_and_to_anything_else_none() {
    let server = PodRef {
        namespace: "ns".into(),
        name: "server-0".into(),
    };
    let destination = |pod: bool, is_node: bool| Destination {
        pod: pod.then(|| server.clone()),
        node: Some("node1".into()),
        is_node,
        host: "10.0.0.2".into(),
        port: Some(9001),
        describe: String::new(),
        receiving: pod.then(|| Receiving {
            pods: vec![server.clone()],
            port: 9001,
        }),
    };
    let udp = || ProbeAction::Udp {
        host: "10.0.0.2".into(),
        port: 9001,
        marker: "cnicheck-m".into(),
    };
    let (sent, receivers) = udp_halves(udp(), &destination(true, false), 1000);
    assert_eq!(sent, udp(), "to a pod, the source waits for the echo");
    let [receiver] = &receivers[..] else {
        panic!("the pod's agent is asked: {receivers:?}");
    };
    assert_eq!(receiver.pod.name, "server-0");
    assert_eq!(receiver.confirms, Confirmation::Asked);
    assert_eq!(
        receiver.request.action,
        ProbeAction::UdpWatch {
            port: 9001,
            marker: "cnicheck-m".into()
        }
    );
    let (sent, receivers) = udp_halves(udp(), &destination(true, true), 1000);
    assert!(matches!(sent, ProbeAction::UdpSend { .. }), "{sent:?}");
    assert!(matches!(
        &receivers[..],
        [Receiver {
            request: ProbeRequest {
                action: ProbeAction::UdpReceive { .. },
                ..
            },
            confirms: Confirmation::Watching,
            ..
        }]
    ));
    let (sent, receivers) = udp_halves(udp(), &destination(false, false), 1000);
    assert_eq!(sent, udp(), "the outside: the echo alone decides");
    assert!(receivers.is_empty());
    let service = Destination {
        receiving: Some(Receiving {
            pods: vec![server.clone(), server.clone()],
            port: 9001,
        }),
        ..destination(false, false)
    };
    let (sent, receivers) = udp_halves(udp(), &service, 1000);
    assert_eq!(sent, udp(), "a Service: the source waits for the echo");
    assert_eq!(receivers.len(), 2, "every pod behind it is asked");
}

#[test]
fn a_cell_from_a_pod_to_itself_is_skipped_saying_why() {
    let loaded = builtin("node-ports");
    let cells = cells(&loaded);
    let selected: Vec<usize> = (0..cells.len()).collect();
    let mut deployment = three_node_agents();
    let agents = deployment.workloads.get_mut("node").unwrap();
    agents.pods.truncate(1);
    let phase = &loaded.scenario.phases[0];
    let (planned, unplannable) =
        plan_phase(0, phase, &cells, &selected, &deployment, targets(&vxlan()));
    assert!(planned.is_empty());
    assert_eq!(unplannable.len(), cells.len());
    for problem in &unplannable {
        assert!(problem.reason.skips(), "{}", problem.reason);
        assert!(problem.reason.to_string().contains("does not probe itself"));
    }
}

#[test]
fn a_workload_that_was_not_deployed_is_an_error_of_each_of_its_cells() {
    let loaded = builtin("node-ports");
    let cells = cells(&loaded);
    let selected: Vec<usize> = (0..cells.len()).collect();
    let mut deployment = three_node_agents();
    deployment.workloads.clear();
    let phase = &loaded.scenario.phases[0];
    let (planned, unplannable) =
        plan_phase(0, phase, &cells, &selected, &deployment, targets(&vxlan()));
    assert!(planned.is_empty());
    assert_eq!(unplannable.len(), cells.len());
    assert!(
        unplannable.iter().all(
            |problem| matches!(&problem.reason, PlanError::NotDeployed(name) if name == "node")
        )
    );
}
