// Writes the cilium-health fixtures next to this directory: HealthStatusResponse values built
// from Cilium v1.17.6's own API models (api/v1/health/models) and printed by the very code
// path of `cilium-health status -o json` (pkg/command.PrintOutput after ForceJSON). The
// failure strings are the prober's own (pkg/health/server/prober.go): "Connection timed out"
// for ICMP, and the error of pkg/health/probe.GetHello for HTTP, produced here by running it
// against a local listener that never answers (then pointed at the node's URL).
//
// Run it through ../regenerate.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/cilium/cilium/api/v1/health/models"
	"github.com/cilium/cilium/pkg/command"
	"github.com/cilium/cilium/pkg/health/probe"
)

const timestamp = "2025-07-15T10:04:31Z"

func ok(latencyNs int64) *models.ConnectivityStatus {
	return &models.ConnectivityStatus{Latency: latencyNs}
}

func failed(status string) *models.ConnectivityStatus {
	return &models.ConnectivityStatus{Status: status}
}

func path(ip string, icmp, http *models.ConnectivityStatus) *models.PathStatus {
	return &models.PathStatus{IP: ip, Icmp: icmp, HTTP: http}
}

// node is what the prober's getResults builds: the deprecated `endpoint` field carries the
// same primary endpoint path as `health-endpoint`, and both exist only when the node has a
// health IP (endpoint health checking enabled).
func node(name string, host, hostSecondary, endpoint, endpointSecondary *models.PathStatus) *models.NodeStatus {
	status := &models.NodeStatus{
		Name: name,
		Host: &models.HostStatus{PrimaryAddress: host, SecondaryAddresses: []*models.PathStatus{}},
	}
	if hostSecondary != nil {
		status.Host.SecondaryAddresses = append(status.Host.SecondaryAddresses, hostSecondary)
	}
	if endpoint != nil {
		status.Endpoint = endpoint
		status.HealthEndpoint = &models.EndpointStatus{PrimaryAddress: endpoint, SecondaryAddresses: []*models.PathStatus{}}
		if endpointSecondary != nil {
			status.HealthEndpoint.SecondaryAddresses = append(status.HealthEndpoint.SecondaryAddresses, endpointSecondary)
		}
	}
	return status
}

// httpTimeout is GetHello's error when nothing answers within probe.HttpTimeout (10 s).
func httpTimeout(ip string) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer listener.Close()
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accept, never answer
		}
	}()
	err = probe.GetHello("http://" + listener.Addr().String())
	var urlError *url.Error
	if !errors.As(err, &urlError) {
		panic(fmt.Sprintf("expected a *url.Error, got %v", err))
	}
	urlError.URL = "http://" + net.JoinHostPort(ip, "4240") + "/hello"
	return urlError.Error()
}

func write(dir, name string, response *models.HealthStatusResponse) {
	file, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		panic(err)
	}
	defer file.Close()
	stdout := os.Stdout
	os.Stdout = file
	defer func() { os.Stdout = stdout }()
	command.ForceJSON()
	if err := command.PrintOutput(response); err != nil {
		panic(err)
	}
}

func main() {
	dir := os.Args[1]
	// Dual stack, all healthy, seen from kind-worker.
	write(dir, "healthy-dual-stack.json", &models.HealthStatusResponse{
		Local:     &models.SelfStatus{Name: "default/kind-worker"},
		Timestamp: timestamp,
		Nodes: []*models.NodeStatus{
			node("default/kind-worker",
				path("172.18.0.3", ok(48_113), ok(301_548)),
				path("fc00:c111::3", ok(51_002), ok(288_990)),
				path("10.244.1.87", ok(75_320), ok(402_117)),
				path("fd00:10:244:1::5f1a", ok(80_455), ok(398_760))),
			node("default/kind-control-plane",
				path("172.18.0.2", ok(402_775), ok(1_022_384)),
				path("fc00:c111::2", ok(388_104), ok(1_101_263)),
				path("10.244.0.153", ok(611_942), ok(1_480_336)),
				path("fd00:10:244::c2e", ok(602_005), ok(1_390_442))),
			node("default/kind-worker2",
				path("172.18.0.4", ok(356_208), ok(968_114)),
				path("fc00:c111::4", ok(360_951), ok(1_005_820)),
				path("10.244.2.17", ok(590_406), ok(1_377_905)),
				path("fd00:10:244:2::a4b3", ok(574_118), ok(1_402_667))),
		},
	})
	// The overlay (GENEVE, UDP 6081) to kind-worker2 is dropped: its node answers, its health
	// endpoint does not. Seen from kind-worker.
	write(dir, "endpoint-unreachable.json", &models.HealthStatusResponse{
		Local:     &models.SelfStatus{Name: "default/kind-worker"},
		Timestamp: timestamp,
		Nodes: []*models.NodeStatus{
			node("default/kind-worker",
				path("172.18.0.3", ok(48_113), ok(301_548)), nil,
				path("10.244.1.87", ok(75_320), ok(402_117)), nil),
			node("default/kind-worker2",
				path("172.18.0.4", ok(356_208), ok(968_114)), nil,
				path("10.244.2.17", failed("Connection timed out"), failed(httpTimeout("10.244.2.17"))), nil),
		},
	})
	// Right after start-up: kind-worker2 is known but not probed yet (no results at all), and
	// kind-control-plane has no health endpoint (endpoint health checking disabled there).
	write(dir, "not-probed-yet.json", &models.HealthStatusResponse{
		Local:     &models.SelfStatus{Name: "default/kind-worker"},
		Timestamp: timestamp,
		Nodes: []*models.NodeStatus{
			node("default/kind-worker",
				path("172.18.0.3", ok(48_113), ok(301_548)), nil,
				path("10.244.1.87", ok(75_320), ok(402_117)), nil),
			node("default/kind-control-plane",
				path("172.18.0.2", ok(402_775), ok(1_022_384)), nil, nil, nil),
			node("default/kind-worker2",
				path("172.18.0.4", nil, nil), nil,
				path("10.244.2.17", nil, nil), nil),
		},
	})
}
