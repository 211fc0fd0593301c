# A node: containerd, kubelet, kube-proxy and its pod network (kube-router's firewall over ptp, or
# a Cilium agent), all in the node's own network and mount namespaces, with the node's own cgroup
# root (on a Cilium node also a private bpffs and read-only kernel tunables) and private copies of the paths a kubelet
# writes to, so nothing of it lands on the host and a second node can sit beside it.
# shellcheck shell=bash

CNI_BIN="$TESTBED_STATE/cni-bin"
# Paths node components write to that their flags can't move; bind-mounted per node.
NODE_PRIVATE_DIRS="/var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /etc/cni/net.d"
# The kernel's tunables are the machine's, whatever netns reads them: read-only in a Cilium node.
NODE_READONLY_SYSCTLS="kernel vm fs"
# Kernel tunables the kubelet insists on (it rewrites them otherwise); see prepare_node_mounts.
KUBELET_TUNABLES="vm/overcommit_memory:1 kernel/panic:10 kernel/panic_on_oops:1"

# Each node's cgroup root is made in the v1 hierarchies; runc mirrors every container's cgroup path
# into the cgroup2 hierarchy as well (hybrid mode), so what the testbed leaves is found in all of them.
cgroup_v1_hierarchies() { find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d ! -name unified; }
cgroup_all_hierarchies() { cgroup_v1_hierarchies; [ -d /sys/fs/cgroup/unified ] && echo /sys/fs/cgroup/unified; }

# make_cgroup_root N: /testbed-nodeN in every hierarchy (cpuset needs cpus and mems to be usable).
# The cgroup2 one is where runc mirrors the node's pods, and the root of the node's own cgroup2
# view (see mount_node_cgroup2).
make_cgroup_root() {
  local root="/$(node_name "$1")" h
  for h in $(cgroup_all_hierarchies); do
    mkdir -p "$h$root"
    if [ -e "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" > "$h$root/cpuset.cpus"
      cat "$h/cpuset.mems" > "$h$root/cpuset.mems"
    fi
  done
}

make_cni_bin() {
  mkdir -p "$CNI_BIN"
  local p
  for p in /usr/lib/cni/*; do ln -sf "$p" "$CNI_BIN/"; done
  cp "$BIN/multus-$MULTUS_VERSION/multus" "$CNI_BIN/multus"
}

# Remembers the host paths the testbed had to create, so `down` removes exactly those.
ensure_host_dir() {
  local dir=$1 top=$1
  [ -e "$dir" ] && return 0
  while [ ! -e "$(dirname "$top")" ]; do top=$(dirname "$top"); done
  mkdir -p "$dir"
  echo "$top" >> "$TESTBED_STATE/created-host-dirs"
}

# prepare_node_mounts N: private /run, private copies of NODE_PRIVATE_DIRS and the kubelet's
# tunables shown at the values it wants (on a Cilium node also a private bpffs, read-only kernel
# tunables and its own cgroup2 view), all inside node N's own mount namespace. The host's real
# sysctls are never written.
prepare_node_mounts() {
  local n=$1 dir="$TESTBED_STATE/node$1" d private=$NODE_PRIVATE_DIRS
  # /lib/modules: Cilium's DaemonSet mounts it; this kernel has none.
  [ "$TESTBED_CNI" != cilium ] || private+=" /lib/modules"
  in_node "$n" mount -t tmpfs -o mode=755 "testbed-node$n-run" /run
  for d in $private; do
    ensure_host_dir "$d"
    mkdir -p "$dir/private$d"
    in_node "$n" mount --bind "$dir/private$d" "$d"
  done
  local t key
  for t in $KUBELET_TUNABLES; do
    key=${t%%:*}
    mkdir -p "$dir/tunables/$(dirname "$key")"
    echo "${t#*:}" > "$dir/tunables/$key"
    in_node "$n" mount --bind "$dir/tunables/$key" "/proc/sys/$key"
  done
  # Secondary (Multus) networks span nodes, like whereabouts on a real cluster: every node's
  # host-local allocates from one shared store, so two nodes never hand out the same address.
  mkdir -p "$TESTBED_STATE/shared-ipam"
  in_node "$n" mkdir -p /var/lib/cni/networks
  in_node "$n" mount --bind "$TESTBED_STATE/shared-ipam" /var/lib/cni/networks
  # Pods get an empty resolv.conf for dnsPolicy Default: nothing may ask the host's resolver.
  : > "$dir/resolv.conf"
  [ "$TESTBED_CNI" != cilium ] || isolate_node_for_cilium "$n"
}

# isolate_node_for_cilium N: what a Cilium agent needs of its node, kept inside the node's mount
# namespace.
isolate_node_for_cilium() {
  local n=$1 d
  # BPF maps are pinned by fixed names: each node has its own, as each real node has.
  in_node "$n" mount -t bpf "testbed-node$n-bpf" /sys/fs/bpf
  # A bind of each onto itself, remounted read-only: writes fail (the Cilium agent tries
  # kernel.unprivileged_bpf_disabled=1, which no one can undo before a reboot, and ignores the error).
  # Recursive, so the kubelet's tunables (prepare_node_mounts) stay bound, and writable, on top.
  for d in $NODE_READONLY_SYSCTLS; do
    in_node "$n" mount --rbind "/proc/sys/$d" "/proc/sys/$d"
    in_node "$n" mount -o remount,bind,ro "/proc/sys/$d"
  done
  mount_node_cgroup2 "$n"
  # Shared within the node, as systemd makes a node's root: HostToContainer volumes see mounts made
  # after their pod started. The namespace was made private first, so the host is no peer of these.
  in_node "$n" mount --make-rshared /
}

# mount_node_cgroup2 N: the node's cgroup2 view at /run/cilium/cgroupv2, rooted at the node's own
# subtree (unified/testbed-nodeN), never the host's root, where the machine's own processes are:
# the Cilium agent attaches its cgroup hooks at that root, or detaches every hook it finds there.
# A short-lived process moves into the subtree, makes a cgroup namespace there and mounts from
# inside it; nothing else enters that namespace, and no host cgroup mount is touched.
mount_node_cgroup2() {
  local n=$1
  in_node "$n" mkdir -p /run/cilium/cgroupv2
  nsenter --target "$(pid_of "node$n-ns")" --mount -- sh -c \
    'echo $$ > "$1/cgroup.procs" && exec unshare --cgroup mount -t cgroup2 "$2" /run/cilium/cgroupv2' \
    sh "/sys/fs/cgroup/unified/$(node_name "$n")" "testbed-node$n-cgroup2"
}

# write_cni_config N: Multus as the node's CNI plugin, delegating the pod network to a single ptp
# conf (kube-router) or to the conflist the Cilium agent writes once it is ready.
write_cni_config() {
  local n=$1 conf="$TESTBED_STATE/node$1/private/etc/cni/net.d" cluster_network
  if [ "$TESTBED_CNI" = cilium ]; then
    cluster_network=/etc/cni/net.d/05-cilium.conflist
  else
    cluster_network=/etc/cni/net.d/10-pods.conf
    # A single plugin, not a conflist: Multus 4.2 re-serializes a conflist's plugins on DEL through a
    # struct that drops host-local's subnet, and every pod deletion then fails. The pod network's
    # addresses are the node's own (dataDir outside the store the nodes share).
    cat > "$conf/10-pods.conf" <<JSON
{"cniVersion": "0.4.0", "name": "cnicheck-pods", "type": "ptp", "ipMasq": false, "mtu": 1500,
 "ipam": {"type": "host-local", "dataDir": "/var/lib/cni/pod-network", "ranges": [[{"subnet": "$(node_pod_cidr "$n")"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
JSON
  fi
  cat > "$conf/00-multus.conf" <<JSON
{"name": "multus-cni-network", "type": "multus",
 "kubeconfig": "$PKI/multus.kubeconfig", "confDir": "/etc/cni/net.d", "binDir": "$CNI_BIN",
 "cniDir": "/var/lib/cni/multus", "clusterNetwork": "$cluster_network",
 "logFile": "$TESTBED_STATE/logs/multus-node$n.log", "logLevel": "error"}
JSON
}

start_containerd() {
  local n=$1 dir="$TESTBED_STATE/node$1"
  mkdir -p "$dir/containerd"
  cat > "$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_unprivileged_icmp = true
  # Our machines withhold CAP_SYS_RESOURCE, so no process may lower its oom_score_adj below 0:
  # clamp what the kubelet asks for (pause -998, guaranteed -997) instead of failing every pod.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "${RUNC_BINARY:-runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "/etc/cni/net.d"
TOML
  spawn "node$n-containerd" nsenter --target "$(pid_of "node$n-ns")" --net --mount -- \
    containerd --config "$dir/containerd.toml"
  wait_for "containerd on node $n" 30 in_node "$n" ctr --address /run/containerd/containerd.sock version
}

start_kubelet() {
  local n=$1 dir="$TESTBED_STATE/node$1" k="$BIN/kubernetes-$K8S_VERSION"
  cat > "$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$(node_name "$n")
failSwapOn: false
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $dir/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/node$n.crt
tlsPrivateKeyFile: $PKI/node$n.key
address: $(node_ip "$n")
healthzBindAddress: 127.0.0.1
# Images here can never be pulled again: never collect or evict them.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
podLogsDir: /var/log/pods
serializeImagePulls: false
YAML
  spawn "node$n-kubelet" nsenter --target "$(pid_of "node$n-ns")" --net --mount -- "$k/kubelet" \
    --config="$dir/kubelet.yaml" --kubeconfig="$PKI/node$n.kubeconfig" \
    --container-runtime-endpoint=unix:///run/containerd/containerd.sock \
    --root-dir=/var/lib/kubelet --hostname-override="$(node_name "$n")" --node-ip="$(node_ip "$n")"
}

start_kube_proxy() {
  local n=$1 dir="$TESTBED_STATE/node$1"
  cat > "$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $(node_name "$n")
bindAddress: $(node_ip "$n")
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Conntrack limits are global, not per netns: leave the host's as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
YAML
  spawn "node$n-kube-proxy" nsenter --target "$(pid_of "node$n-ns")" --net --mount -- \
    "$BIN/kubernetes-$K8S_VERSION/kube-proxy" --config="$dir/kube-proxy.yaml"
}

start_kube_router() {
  local n=$1
  spawn "node$n-kube-router" nsenter --target "$(pid_of "node$n-ns")" --net --mount -- \
    "$BIN/kube-router-$KUBE_ROUTER_VERSION/kube-router" \
    --kubeconfig="$PKI/kube-router.kubeconfig" --hostname-override="$(node_name "$n")" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range="$SERVICE_CIDR"
}
