#!/bin/sh
# The container image's whole root filesystem, from a release binary: the
# binary as /hide, the shared libraries it links to (ldd), a passwd and group
# entry for the non-root user 65532, an empty /workspace it owns and a /tmp.
# Nothing else — no shell, no package manager. The Dockerfile runs this in
# its first stage (for each TARGETARCH); test/release/image.test.ts runs it
# here and starts the result read-only under chroot, as test/ops/chroot.test.ts
# does for dist/hide.
#
#   image-rootfs.sh RELEASE_DIR DOCKER_ARCH OUT_DIR     (DOCKER_ARCH: amd64 | arm64)
set -eu
release=$1 arch=$2 root=$3

case $arch in
  amd64) binary=hide-linux-x64 ;;
  arm64) binary=hide-linux-arm64 ;;
  *) echo "image-rootfs.sh: no release binary for $arch (amd64, arm64)" >&2; exit 1 ;;
esac
# The binary must be the one SHA256SUMS names.
(cd "$release" && grep "  $binary\$" SHA256SUMS | sha256sum -c -) >&2

mkdir -p "$root/etc" "$root/workspace" "$root/tmp"
cp "$release/$binary" "$root/hide"
chmod 755 "$root/hide"
for lib in $(ldd "$root/hide" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'hide:x:65532:65532:hide:/workspace:/sbin/nologin' >"$root/etc/passwd"
echo 'hide:x:65532:' >"$root/etc/group"
chown 65532:65532 "$root/workspace"
chmod 1777 "$root/tmp"
