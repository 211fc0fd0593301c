# Shared settings and helpers for the testbed scripts. Sourced, never run.
# shellcheck shell=bash

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.5.21}
COREDNS_VERSION=${COREDNS_VERSION:-v1.12.4}
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v1.5.1}   # newest the module proxy serves
MULTUS_VERSION=${MULTUS_VERSION:-v4.2.3}
CILIUM_VERSION=${CILIUM_VERSION:-v1.17.6}   # the build AWS ships for EKS Anywhere

# Built binaries and images survive between runs on one machine; the cluster's state does not.
TESTBED_CACHE=${TESTBED_CACHE:-/var/cache/cnicheck-testbed}
TESTBED_STATE=${TESTBED_STATE:-/var/lib/cnicheck-testbed}
TESTBED_RUN=${TESTBED_RUN:-/run/cnicheck-testbed}
KUBECONFIG_PATH="$TESTBED_STATE/admin.kubeconfig"
# The pod network and policy engine: kube-router (its firewall over ptp) or cilium (real agents).
# `up --cni` chooses; everything after reads what the running testbed was brought up with.
TESTBED_CNI=$(cat "$TESTBED_STATE/cni" 2>/dev/null || echo kube-router)
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

# --- Topology. Every address below exists only inside network namespaces the testbed creates;
# --- nothing is routed off the machine (the "outside world" netns has no route anywhere).
NODES=${NODES:-2}                     # two nodes: cross-node traffic and node-port checks
SWITCH_IP=10.201.0.1                 # the outside world's router leg, on the node switch
EXTERNAL_IP=10.201.100.10            # the outside world's HTTP server ("the internet" for pods)
EXTERNAL_NAME=outside.cnicheck.test  # and its DNS name, served by the cluster DNS
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
SECONDARY_CIDR=10.202.0.0/24         # the Multus macvlan network (NAD range)
API_HOST_PORT=${API_HOST_PORT:-16443} # where the host reaches the apiserver (127.0.0.1 only)

node_name()     { echo "testbed-node$1"; }
node_ip()       { echo "10.201.0.$((10 + $1))"; }
node_pod_cidr() { echo "10.244.$1.0/24"; }

PIDS="$TESTBED_RUN/pids"

# spawn NAME CMD...: starts a daemon detached from this shell, logging to $TESTBED_STATE/logs/NAME.log,
# and records its PID. The PID is the daemon's own (bash execs it), so `down` can end exactly it.
spawn() {
  local name=$1; shift
  mkdir -p "$PIDS" "$TESTBED_STATE/logs"
  setsid -f bash -c 'echo $$ > "$0"; exec "$@"' "$PIDS/$name.pid" "$@" \
    >> "$TESTBED_STATE/logs/$name.log" 2>&1 < /dev/null
  local i
  for i in $(seq 50); do [ -s "$PIDS/$name.pid" ] && return 0; sleep 0.1; done
  die "could not start $name"
}

pid_of()   { cat "$PIDS/$1.pid" 2>/dev/null; }
is_alive() { local p; p=$(pid_of "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# in_node N CMD...: runs CMD in node N's network and mount namespaces (held by its holder process).
# nsenter, not `ip netns exec`: the latter remounts /sys and would hide the cgroup hierarchies.
in_node() { local n=$1; shift; nsenter --target "$(pid_of "node$n-ns")" --net --mount -- "$@"; }
in_outside() { nsenter --target "$(pid_of outside-ns)" --net -- "$@"; }

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds, or fails naming WHAT.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.5
  done
}

KUBECTL() { "$BIN/kubernetes-$K8S_VERSION/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
