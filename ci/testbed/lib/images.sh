# Images the testbed builds locally (nothing is ever pulled). Sourced by `up` and `import-image`.
# shellcheck shell=bash

IMAGES="$TESTBED_CACHE/images"
PAUSE_IMAGE=localhost/cnicheck-testbed/pause:1
COREDNS_IMAGE=localhost/cnicheck-testbed/coredns:${COREDNS_VERSION#v}
# Debian's static busybox, for the testbed's own checks (independent of cnicheck).
TOOLBOX_IMAGE=localhost/cnicheck-testbed/toolbox:1
HERE_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

build_images() {
  mkdir -p "$IMAGES"
  if [ ! -s "$IMAGES/pause.tar" ]; then
    gcc -static -Os -o "$IMAGES/pause" "$HERE_LIB/pause.c" || return 1
    python3 "$HERE_LIB/mkimage.py" "$IMAGES/pause.tar" "$PAUSE_IMAGE" --file "$IMAGES/pause:/pause" \
      --entrypoint '["/pause"]' || return 1
  fi
  if [ ! -s "$IMAGES/coredns-$COREDNS_VERSION.tar" ]; then
    python3 "$HERE_LIB/mkimage.py" "$IMAGES/coredns-$COREDNS_VERSION.tar" "$COREDNS_IMAGE" \
      --file "$BIN/coredns-$COREDNS_VERSION/coredns:/coredns" \
      --entrypoint '["/coredns"]' --cmd '["-conf", "/etc/coredns/Corefile"]' || return 1
  fi
  if [ ! -s "$IMAGES/toolbox.tar" ]; then
    echo "hello from a testbed pod" > "$IMAGES/index.html"
    python3 "$HERE_LIB/mkimage.py" "$IMAGES/toolbox.tar" "$TOOLBOX_IMAGE" --file /bin/busybox:/bin/busybox \
      --file "$IMAGES/index.html:/www/index.html:644" --entrypoint '["/bin/busybox"]' || return 1
  fi
}

# import_image N ARCHIVE: makes an image archive available to node N's container runtime.
import_image() {
  in_node "$1" ctr --address /run/containerd/containerd.sock -n k8s.io images import "$2" > /dev/null
}
