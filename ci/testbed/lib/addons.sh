# Cluster add-ons applied once the apiserver answers: RBAC for node agents, CoreDNS, Multus' CRD
# and the testbed's NetworkAttachmentDefinition, and on the kube-router testbed Cilium's policy
# CRDs (no Cilium runs there: they let cnicheck's dry-run preflight validate CiliumNetworkPolicies;
# the Cilium scenarios skip).
# shellcheck shell=bash

MANIFESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../manifests" && pwd)

fill() {
  sed -e "s|@EXTERNAL_IP@|$EXTERNAL_IP|g" -e "s|@EXTERNAL_NAME@|$EXTERNAL_NAME|g" \
      -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@DNS_SERVICE_IP@|$DNS_SERVICE_IP|g" \
      -e "s|@SECONDARY_CIDR@|$SECONDARY_CIDR|g" "$1"
}

# The CRD as Multus ships it, taken from the same module version as the plugin binary.
multus_crd() {
  local dir
  dir=$(cd "$TESTBED_CACHE/src/multus-$MULTUS_VERSION" && \
        go mod download -json "gopkg.in/k8snetworkplumbingwg/multus-cni.v4@$MULTUS_VERSION" | \
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || return 1
  python3 - "$dir/deployments/multus-daemonset.yml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split("\n---")
print("\n---".join(d for d in docs if "kind: CustomResourceDefinition" in d))
PY
}

apply_addons() {
  KUBECTL apply -f "$MANIFESTS/rbac.yaml" > /dev/null || return 1
  fill "$MANIFESTS/coredns.yaml.in" | KUBECTL apply -f - > /dev/null || return 1
  multus_crd | KUBECTL apply -f - > /dev/null || return 1
  wait_for "the NetworkAttachmentDefinition CRD" 30 \
    KUBECTL get crd network-attachment-definitions.k8s.cni.cncf.io || return 1
  wait_for "the NetworkAttachmentDefinition API" 30 KUBECTL get network-attachment-definitions -A || return 1
  fill "$MANIFESTS/nad.yaml.in" | KUBECTL apply -f - > /dev/null || return 1
  # Cilium's operator registers its own CRDs, as on a real cluster.
  [ "$TESTBED_CNI" = cilium ] || apply_cilium_crds
}

apply_cilium_crds() {
  local crd
  for crd in $CILIUM_CRDS; do
    # Server-side: the CRDs are too big for client-side apply's last-applied annotation.
    KUBECTL apply --server-side -f "$TESTBED_CACHE/crds/cilium-$CILIUM_VERSION/$crd.yaml" > /dev/null || return 1
  done
  KUBECTL wait --for=condition=Established --timeout=30s \
    $(for crd in $CILIUM_CRDS; do echo "crd/$crd.cilium.io"; done) > /dev/null
}
