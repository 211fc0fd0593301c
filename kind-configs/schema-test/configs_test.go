// Checks every kind config in kind-configs/ the way kind itself reads it, and that each keeps
// the promises its comments make (node count, CNI, kube-proxy, IP families).
//
// Two readings, both kind's own code:
//   - strict, typed: into the public v1alpha4.Cluster with unknown fields rejected (kind's loader
//     does the same), then v1alpha4.SetDefaultsCluster, to assert the promises on the result;
//   - kind's whole create path up to the point where it would start containers: kind's loader,
//     defaulting, conversion and Cluster.Validate. Validate lives in an internal package, so it is
//     reached through the public cluster.Provider with a stand-in container runtime that answers
//     kind's read-only questions and records that provisioning began (which happens only after
//     validation passed).
package schematest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
)

// kind's public API has no constant for "none" (its internal validation accepts it).
const noKubeProxy = v1alpha4.ProxyMode("none")

// The promises of each config, by file name. Every file in kind-configs/ must be listed here.
var promises = map[string]func(t *testing.T, c *v1alpha4.Cluster){
	"cilium-kpr.yaml": func(t *testing.T, c *v1alpha4.Cluster) {
		oneControlPlaneTwoWorkers(t, c)
		defaultCNI(t, c, false)
		kubeProxy(t, c, noKubeProxy)
		ipFamily(t, c, v1alpha4.IPv4Family)
	},
	"cilium.yaml": func(t *testing.T, c *v1alpha4.Cluster) {
		oneControlPlaneTwoWorkers(t, c)
		defaultCNI(t, c, false)
		kubeProxy(t, c, v1alpha4.IPTablesProxyMode)
		ipFamily(t, c, v1alpha4.IPv4Family)
	},
	"dual-stack.yaml": func(t *testing.T, c *v1alpha4.Cluster) {
		oneControlPlaneTwoWorkers(t, c)
		defaultCNI(t, c, false)
		kubeProxy(t, c, v1alpha4.IPTablesProxyMode)
		ipFamily(t, c, v1alpha4.DualStackFamily)
		bothFamilies(t, "podSubnet", c.Networking.PodSubnet)
		bothFamilies(t, "serviceSubnet", c.Networking.ServiceSubnet)
	},
	"multus.yaml": func(t *testing.T, c *v1alpha4.Cluster) {
		oneControlPlaneTwoWorkers(t, c)
		defaultCNI(t, c, true)
		kubeProxy(t, c, v1alpha4.IPTablesProxyMode)
		ipFamily(t, c, v1alpha4.IPv4Family)
		// The built-in multus scenario's NAD takes 10.202.0.100-199 on eth1: nothing else may.
		for _, subnet := range []string{c.Networking.PodSubnet, c.Networking.ServiceSubnet} {
			if strings.HasPrefix(subnet, "10.202.") {
				t.Errorf("subnet %s overlaps the multus scenario's 10.202.0.0/24", subnet)
			}
		}
	},
}

func TestEveryConfigHasPromises(t *testing.T) {
	files := configFiles(t)
	if len(files) == 0 {
		t.Fatal("no kind configs found in ..")
	}
	for _, file := range files {
		if promises[filepath.Base(file)] == nil {
			t.Errorf("%s has no entry in promises: say what it guarantees", file)
		}
	}
	for name := range promises {
		if !slices.Contains(files, filepath.Join("..", name)) {
			t.Errorf("promises lists %s, which is not in kind-configs/", name)
		}
	}
}

func TestConfigs(t *testing.T) {
	for _, file := range configFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			config, err := decodeStrict(raw)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			v1alpha4.SetDefaultsCluster(config)
			if err := kindAccepts(t, file); err != nil {
				t.Fatalf("kind rejects %s: %v", file, err)
			}
			if check := promises[filepath.Base(file)]; check != nil {
				check(t, config)
			}
		})
	}
}

// The checks above must be able to fail: each of these is wrong in one way.
func TestBrokenConfigsAreRejected(t *testing.T) {
	head := "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
	broken := map[string]string{
		"unknown field":       head + "networking:\n  disableDefaultCNl: true\n",
		"misplaced field":     head + "disableDefaultCNI: true\n",
		"bad proxy mode":      head + "networking:\n  kubeProxyMode: off\n",
		"bad ip family":       head + "networking:\n  ipFamily: dualstack\n",
		"no control plane":    head + "nodes:\n  - role: worker\n",
		"bad pod subnet":      head + "networking:\n  podSubnet: 10.244.0.0/33\n",
		"dual, two IPv4":      head + "networking:\n  ipFamily: dual\n  podSubnet: 10.244.0.0/16,10.245.0.0/16\n",
		"wrong apiVersion":    "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n",
		"wrong type of value": head + "nodes: {role: control-plane}\n",
	}
	for name, text := range broken {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			err := kindAccepts(t, path)
			if err == nil {
				t.Errorf("kind accepted:\n%s", text)
			} else if errors.Is(err, errNotValidated) {
				t.Errorf("kind gave no reason to reject:\n%s", text)
			}
			t.Logf("rejected: %v", err)
		})
	}
	if _, err := decodeStrict([]byte(broken["unknown field"])); err == nil {
		t.Error("the strict decoder accepted an unknown field")
	}
}

func configFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("..", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// decodeStrict reads a config as kind's loader does (go.yaml.in/yaml/v3, known fields only).
func decodeStrict(raw []byte) (*v1alpha4.Cluster, error) {
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	decoder.KnownFields(true)
	config := &v1alpha4.Cluster{}
	if err := decoder.Decode(config); err != nil {
		return nil, fmt.Errorf("decoding as v1alpha4.Cluster: %w", err)
	}
	if config.Kind != "Cluster" || config.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind/apiVersion %q/%q, want Cluster/kind.x-k8s.io/v1alpha4", config.Kind, config.APIVersion)
	}
	return config, nil
}

// A stand-in for nerdctl: kind asks it for runtime info and existing clusters, then, once the
// config is validated, starts provisioning by looking for the node image. That first step is
// recorded and every later one fails, so nothing is ever created.
const fakeRuntime = `#!/bin/sh
here=$(dirname "$0")
case "$1" in
  info) echo '{"CgroupVersion":"2","CgroupDriver":"systemd","MemoryLimit":true,"PidsLimit":true,"CPUShares":true}' ;;
  ps) ;;
  inspect) echo "$*" >> "$here/provisioning" ;;
  *) echo "fake runtime: refusing $*" >&2; exit 1 ;;
esac
`

var errNotValidated = errors.New("kind stopped before provisioning without saying why")

// kindAccepts runs kind's own create path on the file and tells whether it got past validation.
func kindAccepts(t *testing.T, path string) error {
	dir := t.TempDir()
	runtime := filepath.Join(dir, "nerdctl")
	if err := os.WriteFile(runtime, []byte(fakeRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	provider := cluster.NewProvider(cluster.ProviderWithNerdctl(runtime))
	err := provider.Create("cnicheck", cluster.CreateWithConfigFile(path), cluster.CreateWithRetain(true))
	if _, statErr := os.Stat(filepath.Join(dir, "provisioning")); statErr == nil {
		return nil
	}
	if err == nil {
		return errNotValidated
	}
	return err
}

func oneControlPlaneTwoWorkers(t *testing.T, c *v1alpha4.Cluster) {
	t.Helper()
	var roles []string
	for _, node := range c.Nodes {
		roles = append(roles, string(node.Role))
	}
	if want := []string{"control-plane", "worker", "worker"}; !slices.Equal(roles, want) {
		t.Errorf("node roles %v, want %v", roles, want)
	}
}

func defaultCNI(t *testing.T, c *v1alpha4.Cluster, wanted bool) {
	t.Helper()
	if c.Networking.DisableDefaultCNI == wanted {
		t.Errorf("disableDefaultCNI is %v, want %v", c.Networking.DisableDefaultCNI, !wanted)
	}
}

func kubeProxy(t *testing.T, c *v1alpha4.Cluster, mode v1alpha4.ProxyMode) {
	t.Helper()
	if c.Networking.KubeProxyMode != mode {
		t.Errorf("kubeProxyMode %q, want %q", c.Networking.KubeProxyMode, mode)
	}
}

func ipFamily(t *testing.T, c *v1alpha4.Cluster, family v1alpha4.ClusterIPFamily) {
	t.Helper()
	if c.Networking.IPFamily != family {
		t.Errorf("ipFamily %q, want %q", c.Networking.IPFamily, family)
	}
}

func bothFamilies(t *testing.T, field, cidrs string) {
	t.Helper()
	parts := strings.Split(cidrs, ",")
	if len(parts) != 2 || strings.Contains(parts[0], ":") == strings.Contains(parts[1], ":") {
		t.Errorf("%s %q, want one IPv4 and one IPv6 CIDR", field, cidrs)
	}
}
