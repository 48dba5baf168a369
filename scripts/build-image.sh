#!/usr/bin/env bash
# `make image`: build the Routescope image with no image registry.
#   1. the base (Debian bookworm, minbase + Python and the netfilter tools the node agent
#      reads with) from Debian packages with mmdebstrap, imported with buildah; reused
#      when it exists (REBUILD_BASE=1 makes it again);
#   2. the image from ./Containerfile with buildah (chroot isolation: works without a
#      container runtime's cgroup and rlimit set-up, as in CI sandboxes).
# Needs root (or a user with subuids) and the Debian packages mmdebstrap and buildah.
set -euo pipefail
IMAGE="${IMAGE:-localhost/routescope:dev}"
BASE_IMAGE="${BASE_IMAGE:-localhost/routescope-base:bookworm}"
SUITE="${SUITE:-bookworm}"
BASE_PACKAGES="python3,python3-venv,ca-certificates,iptables,nftables,ipvsadm,iproute2"
for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install mmdebstrap buildah)" >&2; exit 1; }
done
started=$(date +%s)
if [ "${REBUILD_BASE:-0}" = 1 ] || ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "building the base $BASE_IMAGE from Debian $SUITE packages (mmdebstrap)"
  # No documentation, manual pages or locales: nothing in the image reads them.
  mmdebstrap --variant=minbase --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$SUITE" "$work/base.tar"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$work/base.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
fi
base_done=$(date +%s)
echo "building $IMAGE from Containerfile (buildah)"
ca_args=()
host_ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
if [ -f "$host_ca" ]; then  # trust what this host trusts for the downloads (a TLS proxy)
  ca_args=(--volume "$host_ca:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
buildah build --quiet --isolation chroot --network host --layers=false --build-arg "BASE=$BASE_IMAGE" \
  "${ca_args[@]}" -f Containerfile -t "$IMAGE" . >/dev/null
done_at=$(date +%s)
size=$(buildah inspect --type image --format '{{.FromImageID}}' "$IMAGE" >/dev/null 2>&1; \
       buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | awk -v n="$IMAGE" '$1==n {print $2, $3}')
echo "built $IMAGE (${size:-size unknown}): base $((base_done - started)) s, image $((done_at - base_done)) s"
