#!/bin/sh
# Installs hide, the Headless IDE MCP server, for this Linux machine:
# picks the release build (x64 or arm64; glibc or musl; x64 without AVX2 gets
# the baseline build), downloads its archive and SHA256SUMS, refuses to go on
# unless the archive and the binary in it match SHA256SUMS, checks that the
# binary runs here, then installs it as PREFIX/bin/hide (default ~/.local).
# Nothing downloaded is run before it is verified, and nothing is piped into a
# shell. POSIX sh: runs under dash, busybox sh, bash.
#
#   sh install.sh [--prefix DIR] [--version X.Y.Z] [--base-url URL] [--target T] [--dry-run]
#
#   --prefix DIR     install to DIR/bin/hide (default: $HOME/.local)
#   --version X.Y.Z  that release instead of the latest
#   --base-url URL   http(s) URL where hide-<target>.tar.gz and SHA256SUMS are (a
#                    mirror, or dist/release served locally); env HIDE_INSTALL_BASE_URL
#   --target T       linux-x64, linux-x64-baseline, linux-arm64, linux-x64-musl
#                    or linux-arm64-musl instead of detecting it
#   --dry-run        print what would be downloaded and installed, and stop
set -eu

# Everything runs from main, called on the last line: a download of this script
# cut short (curl ... | sh) defines nothing it could run and does nothing.
main() {

REPOSITORY=headless-ide/hide
# Empty when there is no usable HOME (unset under cron or env -i; for a service account / however spelt, a
# relative path or a directory that is not there): then --prefix must be given.
# Resolved as the shell sees it (a HOME that is a link, /home -> /var/home, keeps its name for the PATH advice).
prefix=
case ${HOME:-} in
  /*) home=$(CDPATH='' cd -- "$HOME" 2>/dev/null && pwd) || home=
    case $home in *[!/]*) prefix=${home%/}/.local ;; esac ;;
esac
version=
base_url=${HIDE_INSTALL_BASE_URL:-}
target=
dry_run=

say() { printf '%s\n' "$*"; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0" 2>/dev/null || say "usage: sh install.sh [--prefix DIR] [--version X.Y.Z] [--base-url URL] [--target T] [--dry-run]"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a version"; version=${2#v}; shift 2 ;;
    --version=*) version=${1#*=}; version=${version#v}; shift ;;
    --base-url) [ $# -ge 2 ] || die "--base-url needs a URL"; base_url=$2; shift 2 ;;
    --base-url=*) base_url=${1#*=}; shift ;;
    --target) [ $# -ge 2 ] || die "--target needs a target"; target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[ -n "$prefix" ] || die "no HOME (or HOME is /, relative or missing): give --prefix DIR"
# Absolute, as the lines printed at the end (cd somewhere, add to PATH) need:
# a --prefix=~/x the shell left alone is under HOME, a relative one under here.
case $prefix in
  \~ | \~/*) [ -n "${HOME:-}" ] || die "no HOME to expand $prefix"; prefix=$HOME${prefix#\~} ;;
esac
case $prefix in
  /*) ;;
  *) prefix=$(pwd)/$prefix ;;
esac

# --- which build -------------------------------------------------------------
has_avx2() {
  # The first "flags" line of /proc/cpuinfo (x86 only). Unreadable: assume yes.
  [ -r "${HIDE_CPUINFO:-/proc/cpuinfo}" ] || return 0
  while IFS= read -r line; do
    case $line in
      flags*)
        case " ${line#*:} " in *" avx2 "*) return 0 ;; *) return 1 ;; esac
        ;;
    esac
  done <"${HIDE_CPUINFO:-/proc/cpuinfo}"
  return 1
}

is_musl() { # machine, glibc loader
  [ -e "/lib/ld-musl-$1.so.1" ] || return 1 # no musl loader: glibc
  [ -e "$2" ] || return 0                   # only musl's: Alpine and friends
  # Both (musl installed on a glibc system, or gcompat on musl): ask ldd.
  case $(ldd --version 2>&1) in *musl*) return 0 ;; *) return 1 ;; esac
}

detect_target() {
  os=$(uname -s)
  [ "$os" = Linux ] || die "hide has release builds for Linux only, not $os (macOS and Windows: run the container image, or build from source)"
  machine=$(uname -m)
  case $machine in
    x86_64 | amd64)
      if is_musl x86_64 /lib64/ld-linux-x86-64.so.2; then
        has_avx2 || die "this CPU has no AVX2 and hide has no musl build without it: use the container image, or build from source"
        echo linux-x64-musl
      elif has_avx2; then
        echo linux-x64
      else
        echo linux-x64-baseline
      fi
      ;;
    aarch64 | arm64)
      if is_musl aarch64 /lib/ld-linux-aarch64.so.1; then echo linux-arm64-musl; else echo linux-arm64; fi
      ;;
    *) die "hide has release builds for x64 and arm64 only, not $machine" ;;
  esac
}

if [ -z "$target" ]; then target=$(detect_target); fi
case $target in
  linux-x64 | linux-x64-baseline | linux-arm64 | linux-x64-musl | linux-arm64-musl) ;;
  *) die "unknown target '$target'" ;;
esac

if [ -z "$base_url" ]; then
  if [ -n "$version" ]; then
    base_url=https://github.com/$REPOSITORY/releases/download/v$version
  else
    base_url=https://github.com/$REPOSITORY/releases/latest/download
  fi
fi
base_url=${base_url%/}
# Plain HTTP to this machine (a local copy of dist/release): no user info, and
# a host that is 127.x.y.z, localhost or [::1] itself, not a name that starts so.
is_loopback_http() {
  authority=${1#http://}
  authority=${authority%%/*}
  case $authority in
    *@* | *'?'* | *'#'* | *\\*) return 1 ;;
    '[::1]' | '[::1]:'*) return 0 ;;
  esac
  host=${authority%:*}
  case $host in
    localhost) return 0 ;;
    127.*.*.*) case $host in *[!0-9.]* | *..* | *.) return 1 ;; *) return 0 ;; esac ;;
  esac
  return 1
}
case $base_url in
  https://*) ;;
  http://*)
    is_loopback_http "$base_url" ||
      echo "install.sh: warning: $base_url is plain HTTP, so SHA256SUMS comes over the same unauthenticated channel as the archive" >&2
    ;;
  *) die "--base-url must be an http(s) URL" ;;
esac
binary=hide-$target
archive=$binary.tar.gz
bindir=$prefix/bin

if [ -n "$dry_run" ]; then
  say "target:  $target"
  say "archive: $base_url/$archive"
  say "sums:    $base_url/SHA256SUMS"
  say "install: $bindir/hide"
  exit 0
fi

# --- tools -------------------------------------------------------------------
# From an https URL, https only, redirects included (curl would follow one to http).
case $base_url in https://*) protocols='=https' ;; *) protocols='=https,http' ;; esac
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --proto "$protocols" --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  die "needs curl or wget to download"
fi
# From stdin: given a path with a backslash or a newline (TMPDIR), sha256sum
# escapes the name and puts a backslash before the digest.
if command -v sha256sum >/dev/null 2>&1; then
  digest() { sha256sum <"$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  digest() { shasum -a 256 <"$1" | cut -d ' ' -f 1; }
elif command -v openssl >/dev/null 2>&1; then
  digest() { openssl dgst -sha256 <"$1" | sed 's/^.*= *//'; }
else
  die "needs sha256sum, shasum or openssl to verify the download"
fi
command -v tar >/dev/null 2>&1 || die "needs tar"

# --- download and verify -----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hide-install.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

say "Downloading $archive from $base_url"
fetch "$base_url/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot download $base_url/SHA256SUMS"
fetch "$base_url/$archive" "$tmp/$archive" || die "cannot download $base_url/$archive"

# The expected digest of a file name, from SHA256SUMS ("<hex>  <name>"): the
# last line counts without its newline (as for sha256sum -c), and a name listed
# twice with two digests is ambiguous.
expected() {
  want=
  while read -r sum name || [ -n "$sum" ]; do
    if [ "${name#\*}" = "$1" ]; then
      [ -z "$want" ] || [ "$want" = "$sum" ] || return 2
      want=$sum
    fi
  done <"$tmp/SHA256SUMS"
  [ -n "$want" ]
}
verify() { # file, name in SHA256SUMS
  expected "$2" || {
    [ $? = 2 ] && die "SHA256SUMS lists $2 twice with different checksums: refusing to install"
    die "SHA256SUMS has no entry for $2: refusing to install"
  }
  got=$(digest "$1")
  [ "$got" = "$want" ] || die "checksum mismatch for $2 (expected $want, got $got): refusing to install"
}
verify "$tmp/$archive" "$archive"
mkdir "$tmp/x"
(cd "$tmp/x" && tar -xzf "../$archive") || die "cannot unpack $archive"
if [ ! -f "$tmp/x/hide" ] || [ -L "$tmp/x/hide" ]; then die "$archive holds no hide binary"; fi
verify "$tmp/x/hide" "$binary"

# --- install -----------------------------------------------------------------
# Beside its final name, so the trial run happens where it will live (a
# noexec /tmp is common) and the rename is atomic.
mkdir -p "$bindir" || die "cannot create $bindir"
# mv onto a directory (or a link to one) would move the binary into it.
[ ! -d "$bindir/hide" ] || die "$bindir/hide is a directory (or a link to one): remove it, or give another --prefix"
# A fresh file of our own (mktemp creates it exclusively), so no link planted
# at a guessable name is written through.
new=
trap 'rm -rf "$tmp"; [ -z "$new" ] || rm -f "$new"' EXIT
new=$(mktemp "$bindir/.hide.new.XXXXXX") || die "cannot write to $bindir"
cp "$tmp/x/hide" "$new" || die "cannot write to $bindir"
chmod 755 "$new"
installed_version=$("$new" version 2>&1) || die "the $target build does not run on this machine: $installed_version"
mv -f "$new" "$bindir/hide" || die "cannot install $bindir/hide"

say "Installed hide $installed_version to $bindir/hide"
case ":${PATH:-}:" in
  *":$bindir:"*) run=hide ;;
  *)
    run=$bindir/hide
    say "($bindir is not on your PATH: add it with  export PATH=\"$bindir:\$PATH\")"
    ;;
esac
say ""
say "Next: serve a project over HTTP on 127.0.0.1:5000"
say "  cd /path/to/project && $run serve"
say "or let an MCP client start it over stdio: $run stdio --workspace /path/to/project"
}

main "$@"
