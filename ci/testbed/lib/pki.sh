# Certificates and kubeconfigs for the testbed (a throwaway CA per testbed). Sourced by `up`.
# shellcheck shell=bash

PKI="$TESTBED_STATE/pki"

# issue_cert NAME SUBJECT [SANS]: an EC P-256 key and a certificate signed by the testbed CA.
issue_cert() {
  local name=$1 subject=$2 sans=${3:-}
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } > "$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# write_kubeconfig FILE SERVER CERT_NAME: a kubeconfig authenticating with PKI/CERT_NAME.{crt,key}.
write_kubeconfig() {
  local file=$1 server=$2 cert=$3
  cat > "$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: cnicheck-testbed
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: cnicheck-testbed
  context: {cluster: cnicheck-testbed, user: $cert}
current-context: cnicheck-testbed
KUBECONFIG
}

make_pki() {
  mkdir -p "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=cnicheck-testbed-ca" -days 30 -sha256 \
    -out "$PKI/ca.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/service-account.key" 2>/dev/null
  openssl ec -in "$PKI/service-account.key" -pubout -out "$PKI/service-account.pub" 2>/dev/null

  issue_cert kube-apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$(node_ip 1)"
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  issue_cert admin "/O=system:masters/CN=cnicheck-testbed-admin"
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager"
  issue_cert kube-scheduler "/CN=system:kube-scheduler"
  issue_cert kube-proxy "/CN=system:kube-proxy"
  issue_cert kube-router "/CN=system:kube-router"
  issue_cert multus "/CN=system:multus"
  local n
  for n in $(seq 1 "$NODES"); do
    issue_cert "node$n" "/O=system:nodes/CN=system:node:$(node_name "$n")" \
      "DNS:$(node_name "$n"),IP:$(node_ip "$n")"
  done

  local api_in_cluster="https://$(node_ip 1):6443"
  for c in kube-controller-manager kube-scheduler kube-proxy kube-router multus; do
    write_kubeconfig "$PKI/$c.kubeconfig" "$api_in_cluster" "$c"
  done
  for n in $(seq 1 "$NODES"); do write_kubeconfig "$PKI/node$n.kubeconfig" "$api_in_cluster" "node$n"; done
  write_kubeconfig "$KUBECONFIG_PATH" "https://127.0.0.1:$API_HOST_PORT" admin
}
