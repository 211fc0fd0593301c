# Shared settings and helpers for the testbed scripts. Sourced, never run.
# shellcheck shell=bash

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.5.21}
COREDNS_VERSION=${COREDNS_VERSION:-v1.12.4}
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v1.5.1}   # newest the module proxy serves
MULTUS_VERSION=${MULTUS_VERSION:-v4.2.3}

# Built binaries and images survive between runs on one machine; the cluster's state does not.
TESTBED_CACHE=${TESTBED_CACHE:-/var/cache/cnicheck-testbed}
TESTBED_STATE=${TESTBED_STATE:-/var/lib/cnicheck-testbed}
TESTBED_RUN=${TESTBED_RUN:-/run/cnicheck-testbed}
KUBECONFIG_PATH="$TESTBED_STATE/admin.kubeconfig"
BIN="$TESTBED_CACHE/bin"

log()  { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 1; }

# step NAME CMD...: runs a step, printing how long it took.
step() {
  local name=$1; shift
  local t0=$SECONDS
  log "$name ..."
  "$@" || die "$name failed"
  log "$name done in $((SECONDS - t0))s"
}
