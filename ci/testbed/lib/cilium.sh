# Real Cilium on the testbed: its binaries, built from the Go module proxy with the testbed's
# patches (ci/testbed/cilium/patches), and its images, built locally from them. Cached by version.
# Sourced by `up` (after common.sh, build.sh, images.sh and addons.sh).
# shellcheck shell=bash

# How a node runs its agent safely (lib/node.sh, isolate_node_for_cilium): the DaemonSet from
# manifests/cilium runs as users run it, and each hostPath it names resolves in the node's own
# mount namespace, where the node has a private bpffs at /sys/fs/bpf, read-only /proc/sys/{kernel,
# vm,fs} (the agent's writes of kernel.unprivileged_bpf_disabled and kernel.timer_migration fail,
# and it goes on), a cgroup2 view rooted at the node's own subtree at /run/cilium/cgroupv2 (the
# agent's cgroup hooks only ever see the node's processes) and a private /lib/modules. The agent
# runs in the node's netns (hostNetwork): its links die with it. /proc/sys/net in a node's netns
# holds only that netns' entries (checked on this kernel).

CILIUM_PATCHES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../cilium/patches" && pwd)
CILIUM_MODULE=github.com/cilium/cilium
# The Envoy build the release was made against (images/cilium/Dockerfile of the release): the agent
# compares it with a running cilium-envoy. None runs here (see README: no L7 proxy).
CILIUM_ENVOY_SHA=7c2edb0b44cf95f326d628b837fcdd845102ba68
# binary:package:build tags, as the release's Makefiles build them (Makefile.defs adds osusergo to
# every Go build; operator/Makefile adds the IPAM provider of each operator flavour).
CILIUM_BINARIES="cilium-agent:daemon:osusergo
cilium-operator-generic:operator:osusergo,ipam_provider_operator
cilium-health:cilium-health:osusergo
cilium-health-responder:cilium-health/responder:osusergo
cilium-dbg:cilium-dbg:osusergo
cilium-cni:plugins/cilium-cni:osusergo
hubble-relay:hubble-relay:osusergo"
CILIUM_BIN="$BIN/cilium-$CILIUM_VERSION"

# The kernel options the modules patch (0001) reports as built in, by the module names it reports.
CILIUM_BUILTIN_CONFIG="ip_tables:IP_NF_IPTABLES iptable_nat:IP_NF_NAT iptable_mangle:IP_NF_MANGLE
iptable_raw:IP_NF_RAW iptable_filter:IP_NF_FILTER ip6_tables:IP6_NF_IPTABLES ip6table_mangle:IP6_NF_MANGLE
ip6table_raw:IP6_NF_RAW ip6table_filter:IP6_NF_FILTER xt_socket:NETFILTER_XT_MATCH_SOCKET"

# What the binaries were built from: the patches' contents. A changed patch means a rebuild.
cilium_patches_digest() { cat "$CILIUM_PATCHES"/*.patch | sha256sum | cut -d' ' -f1; }

# cilium_module_dir: the unpacked release module in the module cache (read-only), downloading it.
cilium_module_dir() {
  go mod download -json "$CILIUM_MODULE@$CILIUM_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

# The version string upstream's Makefile.defs links in: "VERSION SHORT-COMMIT AUTHOR-DATE". The
# agent, cilium-dbg and hubble-relay split it into 7 fields with the Go version appended; a bare
# "1.17.6" leaves every field empty (cilium-dbg version, the cilium_version metric, relay's version).
# The module proxy records the release tag's commit and its time.
cilium_version_string() {
  local info
  info=$(go mod download -json "$CILIUM_MODULE@$CILIUM_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Info"])') || return 1
  python3 - "$info" "${CILIUM_VERSION#v}" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
print(sys.argv[2], info["Origin"]["Hash"][:10], info["Time"])
PY
}

# prepare_cilium_source DIR: DIR/cilium is a patched copy of the release module; DIR/go.mod a
# wrapper module that builds it (a replace to the copy: `go build -overlay` refuses files in the
# module cache). Cilium's go.sum comes along; its own replace of controller-tools does not (code
# generation only, and replaces in a dependency's go.mod are ignored anyway).
prepare_cilium_source() {
  local dir=$1 src p
  src=$(cilium_module_dir) || return 1
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$src" "$dir/cilium" && chmod -R u+w "$dir/cilium" || return 1
  for p in "$CILIUM_PATCHES"/*.patch; do
    (cd "$dir/cilium" && patch -p1 --forward --quiet < "$p") || { log "patch $(basename "$p") does not apply"; return 1; }
  done
  cat > "$dir/go.mod" <<EOF
module cnicheck.testbed/cilium-$CILIUM_VERSION

go $(sed -n 's/^go //p' "$dir/cilium/go.mod")

require $CILIUM_MODULE $CILIUM_VERSION

replace $CILIUM_MODULE => ./cilium
EOF
  cp "$dir/cilium/go.sum" "$dir/go.sum"
}

# build_cilium: every Cilium binary the testbed runs, into $CILIUM_BIN (which appears only when
# complete, with the digest of the patches it was built with).
build_cilium() {
  local out=$CILIUM_BIN dir="$TESTBED_CACHE/src/cilium-$CILIUM_VERSION" digest
  digest=$(cilium_patches_digest)
  [ -x "$out/cilium-agent" ] && [ "$(cat "$out/patches.sha256" 2>/dev/null)" = "$digest" ] && return 0
  command -v patch > /dev/null || { log "the Cilium build needs patch(1) (Debian: patch)"; return 1; }
  prepare_cilium_source "$dir" || return 1
  local version; version=$(cilium_version_string) || return 1
  local ldflags="-s -w -X 'github.com/cilium/cilium/pkg/version.ciliumVersion=$version'"
  ldflags+=" -X github.com/cilium/cilium/pkg/envoy.requiredEnvoyVersionSHA=$CILIUM_ENVOY_SHA"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  local entry name pkg tags t0
  while IFS=: read -r name pkg tags; do
    t0=$SECONDS
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ldflags" \
       -o "$out.tmp/$name" "$CILIUM_MODULE/$pkg") || { log "building $name failed"; return 1; }
    log "built $name in $((SECONDS - t0))s"
  done <<< "$CILIUM_BINARIES"
  echo "$digest" > "$out.tmp/patches.sha256"
  echo "$version" > "$out.tmp/version"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# cilium_kernel_check: the kernel has what the patched agent assumes (see patch 0001).
cilium_kernel_check() {
  local config entry missing=()
  config=$(zcat /proc/config.gz 2>/dev/null) || { log "no /proc/config.gz: cannot check the kernel for Cilium"; return 1; }
  if [ -e /proc/modules ]; then return 0; fi   # a modular kernel: the agent's unpatched path
  for entry in $CILIUM_BUILTIN_CONFIG; do
    grep -qx "CONFIG_${entry#*:}=y" <<< "$config" || missing+=("${entry%%:*} (CONFIG_${entry#*:})")
  done
  [ ${#missing[@]} -eq 0 ] || { log "the kernel lacks what the Cilium agent needs built in: ${missing[*]}"; return 1; }
}

# --- Images, as upstream lays them out (images/cilium, images/operator, images/hubble-relay of the
# --- release), from the binaries above and this machine's Debian tools. Nothing is pulled. Upstream's
# --- operator image also carries public CA certificates: nothing here talks to a public endpoint.
CILIUM_IMAGE=localhost/cnicheck-testbed/cilium:$CILIUM_VERSION
CILIUM_OPERATOR_IMAGE=localhost/cnicheck-testbed/operator-generic:$CILIUM_VERSION
HUBBLE_RELAY_IMAGE=localhost/cnicheck-testbed/hubble-relay:$CILIUM_VERSION
CILIUM_IMAGE_ARCHIVES="cilium operator-generic hubble-relay"
# Debian tools the agent runs by name: clang (it compiles its datapath at start: LLVM >= 18.1, so
# Debian's clang-19) and bpftool (`bpftool -j feature probe`, fatal if missing); iptables and
# ip6tables (the same nf_tables backend the nodes' kube-proxy uses: both are this machine's
# /usr/sbin/iptables), ipset, and ip (iproute2: cilium-health routes its endpoint with it). llc is not run by 1.17 (clang --target=bpf emits the object) but is
# in upstream's runtime image, so it is here too. Each comes with its shared libraries.
CILIUM_HOST_TOOLS="/usr/lib/llvm-19/bin/clang /usr/lib/llvm-19/bin/llc /usr/sbin/bpftool
/usr/sbin/iptables /usr/sbin/iptables-save /usr/sbin/iptables-restore
/usr/sbin/ip6tables /usr/sbin/ip6tables-save /usr/sbin/ip6tables-restore
/usr/lib/x86_64-linux-gnu/xtables /usr/sbin/ipset /usr/bin/ip /bin/busybox /bin/bash"
# The chart's hooks and init containers run upstream's scripts (/init-container.sh,
# /install-plugin.sh, /cni-uninstall.sh: bash) and, in the agent's postStart, iptables-save | grep.
# Busybox provides the plain tools they call.
CILIUM_BUSYBOX_TOOLS="sh grep cat cp mv mkdir rm basename find ls sleep"

cilium_image_archive() { echo "$IMAGES/$1-$CILIUM_VERSION.tar"; }

# What an image is made from: the binaries (by their patches), this recipe and mkimage.py.
cilium_image_recipe() { cat "$CILIUM_BIN/patches.sha256" "${BASH_SOURCE[0]}" "$HERE_LIB/mkimage.py" | sha256sum | cut -d' ' -f1; }
# cilium_image_fresh NAME: the archive exists and was made from today's recipe.
cilium_image_fresh() {
  [ -s "$(cilium_image_archive "$1")" ] && [ "$(cat "$(cilium_image_archive "$1").recipe" 2>/dev/null)" = "$(cilium_image_recipe)" ]
}
# cilium_image_done NAME: records the recipe the archive was made from.
cilium_image_done() { cilium_image_recipe > "$(cilium_image_archive "$1").recipe"; }

build_cilium_images() {
  local b=$CILIUM_BIN src tool
  mkdir -p "$IMAGES"
  if ! cilium_image_fresh cilium; then
    src=$(cilium_module_dir) || return 1
    local tools=()
    for tool in $CILIUM_HOST_TOOLS; do
      [ -e "$tool" ] || { log "$tool is missing (ci/testbed/install-prerequisites --cni cilium installs it)"; return 1; }
      tools+=(--host "$tool")
    done
    local links=()
    for tool in $CILIUM_BUSYBOX_TOOLS; do links+=(--link "busybox:/usr/bin/$tool"); done
    python3 "$HERE_LIB/mkimage.py" "$(cilium_image_archive cilium)" "$CILIUM_IMAGE" \
      --file "$b/cilium-agent:/usr/bin/cilium-agent" --file "$b/cilium-dbg:/usr/bin/cilium-dbg" \
      --link cilium-dbg:/usr/bin/cilium --file "$b/cilium-health:/usr/bin/cilium-health" \
      --file "$b/cilium-health-responder:/usr/bin/cilium-health-responder" \
      --file "$b/cilium-cni:/opt/cni/bin/cilium-cni" \
      --tree "$src/bpf:/var/lib/cilium/bpf" "${tools[@]}" \
      --link /usr/lib/llvm-19/bin/clang:/usr/bin/clang --link /usr/lib/llvm-19/bin/llc:/usr/bin/llc \
      --file "$src/images/cilium/init-container.sh:/init-container.sh" \
      --file "$src/plugins/cilium-cni/install-plugin.sh:/install-plugin.sh" \
      --file "$src/plugins/cilium-cni/cni-uninstall.sh:/cni-uninstall.sh" \
      "${links[@]}" --dir /tmp:1777 --dir /home/cilium \
      --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env HUBBLE_SERVER=unix:///var/run/cilium/hubble.sock --cmd '["/usr/bin/cilium-dbg"]' || return 1
    cilium_image_done cilium
  fi
  if ! cilium_image_fresh operator-generic; then
    python3 "$HERE_LIB/mkimage.py" "$(cilium_image_archive operator-generic)" "$CILIUM_OPERATOR_IMAGE" \
      --file "$b/cilium-operator-generic:/usr/bin/cilium-operator-generic" \
      --dir /tmp:1777 \
      --env GOPS_CONFIG_DIR=/ --cmd '["/usr/bin/cilium-operator-generic"]' || return 1
    cilium_image_done operator-generic
  fi
  if ! cilium_image_fresh hubble-relay; then
    python3 "$HERE_LIB/mkimage.py" "$(cilium_image_archive hubble-relay)" "$HUBBLE_RELAY_IMAGE" \
      --file "$b/hubble-relay:/usr/bin/hubble-relay" --user 65532:65532 --dir /tmp:1777 \
      --env GOPS_CONFIG_DIR=/tmp \
      --entrypoint '["/usr/bin/hubble-relay"]' --cmd '["serve"]' || return 1
    cilium_image_done hubble-relay
  fi
}

# import_cilium_images N: the three images into node N's container runtime.
import_cilium_images() {
  local name
  for name in $CILIUM_IMAGE_ARCHIVES; do import_image "$1" "$(cilium_image_archive "$name")" || return 1; done
}

# The testbed's Cilium, as rendered from the release's chart (cilium/render-manifests), filled in.
# The agents reach the apiserver on node 1's address: its Service needs the datapath they bring.
cilium_manifests() {
  sed -e "s|__APISERVER_IP__|$(node_ip 1)|g" -e "s|__CILIUM_POD_CIDR__|$POD_CIDR|g" \
      -e "s|__CNI_BIN__|$CNI_BIN|g" "$MANIFESTS/cilium/cilium.yaml.in"
}

apply_cilium() { cilium_manifests | KUBECTL apply -f - > /dev/null; }

# wait_for_cilium: every agent ready (its datapath compiled and loaded, its CNI config written),
# the operator and hubble-relay available.
wait_for_cilium() {
  local what
  for what in daemonset/cilium deployment/cilium-operator deployment/hubble-relay; do
    wait_for "$what rolled out" 240 KUBECTL -n kube-system rollout status "$what" --timeout=5s || {
      log "$what is not ready: $(KUBECTL -n kube-system get pods -o wide -l 'k8s-app in (cilium,hubble-relay)' 2>&1; \
        KUBECTL -n kube-system get pods -o wide -l name=cilium-operator 2>&1)"
      return 1
    }
  done
}
