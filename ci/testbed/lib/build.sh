# Builds the testbed's binaries from the Go module proxy, cached by version. Sourced by `up`.
# shellcheck shell=bash

K8S_STAGING_MODULES="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
sample-apiserver sample-cli-plugin sample-controller"
K8S_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

export GOFLAGS=-mod=mod GOTOOLCHAIN=local

# go_build_into DIR MODULE_DIR PKGS... : builds static binaries into DIR (atomically: DIR appears only when complete).
go_build_into() {
  local out=$1 moddir=$2; shift 2
  local ldflags=${LDFLAGS:-}
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd "$moddir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/" "$@") || return 1
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# wrapper_module DIR MODULE_REQUIRES...: writes a go.mod that only requires (no Go code, so no `go mod tidy`).
wrapper_module() {
  local dir=$1; shift
  mkdir -p "$dir"
  { echo "module cnicheck.testbed/$(basename "$dir")"; echo; echo "go 1.24"; echo
    for req in "$@"; do echo "require $req"; done; } > "$dir/go.mod"
}

build_kubernetes() {
  local out="$BIN/kubernetes-$K8S_VERSION" dir="$TESTBED_CACHE/src/kubernetes-$K8S_VERSION"
  [ -x "$out/kubelet" ] && return 0
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  wrapper_module "$dir" "k8s.io/kubernetes $K8S_VERSION"
  # Same runtime defaults as upstream's own build of this release.
  echo "godebug default=go1.24" >> "$dir/go.mod"
  local m
  for m in $K8S_STAGING_MODULES; do echo "replace k8s.io/$m => k8s.io/$m v0.${K8S_VERSION#v1.}" >> "$dir/go.mod"; done
  local pkgs=() c
  for c in $K8S_COMMANDS; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  local v ldflags=""
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
    ldflags+=" -X $v.buildDate=2026-01-01T00:00:00Z"
  done
  (cd "$dir" && go mod download k8s.io/kubernetes) || return 1
  LDFLAGS=$ldflags go_build_into "$out" "$dir" "${pkgs[@]}"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION" dir="$TESTBED_CACHE/src/etcd-$ETCD_VERSION"
  [ -x "$out/server" ] && return 0   # Go names the binary after the module path's last element
  wrapper_module "$dir" "go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  go_build_into "$out" "$dir" go.etcd.io/etcd/server/v3
}

build_coredns() {
  local out="$BIN/coredns-$COREDNS_VERSION" dir="$TESTBED_CACHE/src/coredns-$COREDNS_VERSION"
  [ -x "$out/coredns" ] && return 0
  wrapper_module "$dir" "github.com/coredns/coredns $COREDNS_VERSION"
  go_build_into "$out" "$dir" github.com/coredns/coredns
}

build_kube_router() {
  local out="$BIN/kube-router-$KUBE_ROUTER_VERSION" dir="$TESTBED_CACHE/src/kube-router-$KUBE_ROUTER_VERSION"
  [ -x "$out/kube-router" ] && return 0
  wrapper_module "$dir" "github.com/cloudnativelabs/kube-router $KUBE_ROUTER_VERSION"
  go_build_into "$out" "$dir" github.com/cloudnativelabs/kube-router/cmd/kube-router
}

MULTUS_MODULE=gopkg.in/k8snetworkplumbingwg/multus-cni.v4
MULTUS_PATCHES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../multus/patches" && pwd)

# build_multus: the thin plugin from a patched copy of the release module (the patches say why),
# rebuilt when a patch changes.
build_multus() {
  local out="$BIN/multus-$MULTUS_VERSION" dir="$TESTBED_CACHE/src/multus-$MULTUS_VERSION" digest src p
  digest=$(cat "$MULTUS_PATCHES"/*.patch | sha256sum | cut -d' ' -f1)
  [ -x "$out/multus" ] && [ "$(cat "$out/patches.sha256" 2>/dev/null)" = "$digest" ] && return 0
  command -v patch > /dev/null || { log "the Multus build needs patch(1) (Debian: patch)"; return 1; }
  src=$(go mod download -json "$MULTUS_MODULE@$MULTUS_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || return 1
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$src" "$dir/multus" && chmod -R u+w "$dir/multus" || return 1
  for p in "$MULTUS_PATCHES"/*.patch; do
    (cd "$dir/multus" && patch -p1 --forward --quiet < "$p") || { log "patch $(basename "$p") does not apply"; return 1; }
  done
  wrapper_module "$dir" "$MULTUS_MODULE $MULTUS_VERSION"
  echo "replace $MULTUS_MODULE => ./multus" >> "$dir/go.mod"
  cp "$dir/multus/go.sum" "$dir/go.sum"
  go_build_into "$out" "$dir" "$MULTUS_MODULE/cmd/multus" && echo "$digest" > "$out/patches.sha256"
}

# Cilium's policy CRDs, so that CiliumNetworkPolicies pass or fail server-side validation on the
# testbed exactly as on a Cilium cluster (no Cilium agent runs here). Taken from the Go module of
# the release, cached by version; a CiliumNetworkPolicy's schema references no other CRD.
CILIUM_CRDS="ciliumnetworkpolicies ciliumclusterwidenetworkpolicies"
fetch_cilium_crds() {
  local out="$TESTBED_CACHE/crds/cilium-$CILIUM_VERSION" dir
  [ -d "$out" ] && return 0
  dir=$(go mod download -json "github.com/cilium/cilium@$CILIUM_VERSION" | \
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || return 1
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  local crd
  for crd in $CILIUM_CRDS; do
    cp "$dir/pkg/k8s/apis/cilium.io/client/crds/v2/$crd.yaml" "$out.tmp/" || return 1
  done
  mv "$out.tmp" "$out"
}
