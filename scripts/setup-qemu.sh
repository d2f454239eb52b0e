#!/usr/bin/env bash
# setup-qemu.sh - make real QEMU 7.2 usable as norcompat's comparison target.
#
# What it does:
#   1. installs Debian bookworm's qemu-system-arm (QEMU 7.2) if it is missing;
#   2. builds the qtest accelerator module (accel-qtest-arm.so), which the Debian
#      package does not ship, from Debian's source package of exactly the installed
#      version, so that the module's build stamp matches the installed binary;
#   3. stores it in a cache directory outside the repository and checks that
#      `-accel qtest` works and that `clock_step` advances the virtual clock;
#   4. writes <cache>/qemu-7.2.env and prints `QEMU_MODULE_DIR=<dir>` last.
#
# Usage:   scripts/setup-qemu.sh            (as root; idempotent)
# Env:     NORCOMPAT_QEMU_CACHE  cache root (default: $HOME/.cache/norcompat/qemu)
#          NORCOMPAT_QEMU_KEEP_WORK=1  keep the source/build tree after a build
# A run with an intact cache only re-checks the module (well under a second).
# A fresh run installs the packages, downloads Debian's QEMU source package,
# configures it and compiles the one module: about a minute on two cores.
# Installing QEMU 7.2 makes apt remove a newer qemu-utils from backports, if any.
set -euo pipefail

PKG=qemu-system-arm
QEMU_BIN=/usr/bin/qemu-system-arm
MODULE=accel-qtest-arm.so
DEB_MODULE_DIR=/usr/lib/x86_64-linux-gnu/qemu
CACHE_ROOT=${NORCOMPAT_QEMU_CACHE:-${HOME:-/root}/.cache/norcompat/qemu}
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup-qemu: %s\n' "$*" >&2; }
die() {
    printf '\nsetup-qemu: ERROR: %s\n' "$*" >&2
    exit 1
}
# Runs a command with its output going to a log file; on failure shows the log's tail.
logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        printf '\nsetup-qemu: command failed: %s\n--- last lines of %s ---\n' "$*" "$log" >&2
        tail -n 30 "$log" >&2
        die "step failed (full log: $log)"
    fi
}
trap 'rc=$?; [ $rc -eq 0 ] || printf "setup-qemu: FAILED (exit status %s)\n" "$rc" >&2' EXIT

[ "$(id -u)" -eq 0 ] || die "must run as root (it uses apt-get)"
[ -r /etc/debian_version ] || die "not a Debian system"

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        logged /tmp/norcompat-apt-update.log apt-get update
        apt_updated=1
    fi
}
is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}
# The 7.2 version of a package that apt would offer, or empty.
candidate_7_2() {
    apt-cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' \
        | grep -E '^([0-9]+:)?7\.2[+~.-]' | head -n 1 || true
}
# Warns about packages apt removed to make room (e.g. a newer qemu-utils from
# backports conflicts with QEMU 7.2's qemu-system-common).
report_removed() {
    local removed
    removed=$(sed -n '/^The following packages will be REMOVED:/,/^[^ ]/p' "$1" | sed -n 's/^  //p' | tr -s ' \n' ' ')
    [ -z "$removed" ] || say "WARNING: apt removed these packages to install QEMU 7.2:$removed"
}
# apt-get install; if it fails on apt's current lists (stale or missing), update the
# lists once and try again.  Arguments are package names ("pkg" or "pkg=version");
# a function name given with --resolve is called to recompute them after an update.
apt_install() {
    local resolve=
    if [ "$1" = --resolve ]; then
        resolve=$2
        shift 2
    fi
    local pkgs=("$@") log=/tmp/norcompat-apt-install.log
    say "apt-get install ${pkgs[*]}"
    if apt-get install -y --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
        report_removed "$log"
        return 0
    fi
    if [ "$apt_updated" -eq 0 ]; then
        say "install failed with the current package lists; updating them and retrying"
        apt_update_once
        [ -z "$resolve" ] || mapfile -t pkgs < <("$resolve")
        [ "${#pkgs[@]}" -gt 0 ] && [ -n "${pkgs[0]}" ] || die "nothing to install after apt-get update"
        logged "$log" apt-get install -y --no-install-recommends "${pkgs[@]}"
        report_removed "$log"
        return 0
    fi
    tail -n 30 "$log" >&2
    die "apt-get install ${pkgs[*]} failed (full log: $log)"
}
# Installs the named packages that are missing.
ensure_packages() {
    local missing=() p
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -gt 0 ] || return 0
    apt_install "${missing[@]}"
}
qemu_pkg_spec() {
    local v
    v=$(candidate_7_2 "$PKG")
    [ -n "$v" ] && printf '%s=%s\n' "$PKG" "$v"
}

# ---------------------------------------------------------------- 1. QEMU binary
if ! is_installed "$PKG"; then
    spec=$(qemu_pkg_spec || true)
    if [ -z "$spec" ]; then
        apt_update_once
        spec=$(qemu_pkg_spec || true)
    fi
    [ -n "$spec" ] || die "apt offers no QEMU 7.2 build of $PKG (is this Debian bookworm?)"
    apt_install --resolve qemu_pkg_spec "$spec"
fi
[ -x "$QEMU_BIN" ] || die "$QEMU_BIN not found after installing $PKG"
BINVER=$(dpkg-query -W -f='${Version}' "$PKG")
SRCVER=$(dpkg-query -W -f='${source:Version}' "$PKG")
case "$BINVER" in
    *:7.2+* | 7.2+* | *:7.2-* | 7.2-*) ;;
    *) die "installed $PKG is $BINVER, not QEMU 7.2 (norcompat compares against 7.2)" ;;
esac
say "$PKG $BINVER (source qemu $SRCVER)"

TAG=debian-$(printf '%s' "$BINVER" | tr -c 'A-Za-z0-9.+-' '_')
PREFIX=$CACHE_ROOT/$TAG
MODDIR=$PREFIX/modules
ENV_FILE=$CACHE_ROOT/qemu-7.2.env

# ---------------------------------------------------------------- checks
# Prints the qemu_stamp_* symbol a module exports.
stamp_of() { nm -D --defined-only "$1" 2>/dev/null | grep -o 'qemu_stamp_[0-9a-f_]*' | head -n 1 || true; }

# The stamp of a module Debian shipped with the installed QEMU (qemu-system-common of
# the same version carries the accel-tcg, ui-* and audio-* modules), or empty.
debian_stamp() {
    local f s
    for f in $(dpkg -L qemu-system-common 2>/dev/null | grep "^$DEB_MODULE_DIR/.*\.so\$" || true); do
        [ -f "$f" ] || continue
        s=$(stamp_of "$f")
        if [ -n "$s" ]; then
            printf '%s %s\n' "$s" "$f"
            return 0
        fi
    done
    return 0
}

# Checks the module in $1; prints why on failure and returns non-zero.
check_module() {
    local dir=$1 got want ref answer err pid in out
    [ -f "$dir/$MODULE" ] || { say "no $MODULE in $dir"; return 1; }
    command -v nm >/dev/null || ensure_packages binutils
    got=$(stamp_of "$dir/$MODULE")
    [ -n "$got" ] || { say "$dir/$MODULE exports no qemu_stamp symbol"; return 1; }
    read -r want ref < <(debian_stamp) || true
    if [ -n "${want:-}" ]; then
        if [ "$got" != "$want" ]; then
            say "stamp mismatch: module has $got, Debian's $ref has $want"
            return 1
        fi
        say "stamp ok: $got (same as $(basename "$ref"))"
    else
        say "warning: no Debian-shipped module in $DEB_MODULE_DIR to compare stamps with"
    fi

    # Functional check: qtest accelerator answers clock_step.
    err=$(mktemp)
    in=$(mktemp -u)
    out=$(mktemp -u)
    mkfifo "$in" "$out"
    QEMU_MODULE_DIR=$dir timeout 30 "$QEMU_BIN" -M virt -accel qtest -qtest stdio \
        -display none -nodefaults <"$in" >"$out" 2>"$err" &
    pid=$!
    exec 8>"$in" 9<"$out"
    answer=
    printf 'clock_step 10\n' >&8
    IFS= read -r -t 20 answer <&9 || true
    exec 8>&- 9<&-
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$in" "$out"
    if [ "$answer" != "OK 10" ]; then
        say "clock_step 10 answered '${answer}' (expected 'OK 10'); QEMU said:"
        sed 's/^/    /' "$err" >&2
        rm -f "$err"
        return 1
    fi
    rm -f "$err"
    say "qtest ok: 'clock_step 10' -> 'OK 10' with QEMU_MODULE_DIR=$dir"
}

finish() {
    mkdir -p "$CACHE_ROOT"
    local tmp
    tmp=$(mktemp "$CACHE_ROOT/.env.XXXXXX")
    printf 'NORCOMPAT_QEMU_7_2=%s\nQEMU_MODULE_DIR=%s\n' "$QEMU_BIN" "$MODDIR" >"$tmp"
    mv -f "$tmp" "$ENV_FILE"
    say "wrote $ENV_FILE"
    echo "QEMU_MODULE_DIR=$MODDIR"
    exit 0
}

# ---------------------------------------------------------------- 2. cached?
if [ -f "$MODDIR/$MODULE" ]; then
    if check_module "$MODDIR"; then
        finish
    fi
    say "cached module in $MODDIR failed the check; rebuilding it"
fi

# ---------------------------------------------------------------- 3. build
ensure_packages dpkg-dev binutils gcc pkg-config python3 ninja-build meson flex bison \
    libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev

WORK=$PREFIX/work
rm -rf "$WORK"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/sources" "$WORK/dl" "$MODDIR"

# Private apt state: deb-src entries derived from the system's deb822 sources.
SYS_SOURCES=/etc/apt/sources.list.d/debian.sources
[ -r "$SYS_SOURCES" ] || die "$SYS_SOURCES not found: cannot derive deb-src entries"
sed -E 's/^Types:.*$/Types: deb-src/' "$SYS_SOURCES" >"$WORK/apt/sources/debian-src.sources"
APT_PRIV=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$WORK/apt/sources"
    -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
    -o "APT::Sandbox::User=root")
mkdir -p "$WORK/apt/cache/archives/partial"
say "fetching Debian source index (private apt state in $WORK/apt)"
logged "$WORK/apt-update.log" apt-get "${APT_PRIV[@]}" update
avail=$(apt-cache "${APT_PRIV[@]}" showsrc qemu 2>/dev/null | awk '/^Version:/ {print $2}' | sort -u | tr '\n' ' ')
if ! printf '%s\n' $avail | grep -qxF "$SRCVER"; then
    die "Debian's archive has no source for qemu $SRCVER (available: ${avail:-none}).
  Upgrade $PKG to a version whose source is published, then rerun."
fi
say "downloading source package qemu=$SRCVER"
(cd "$WORK/dl" && logged "$WORK/apt-source.log" \
    apt-get "${APT_PRIV[@]}" source --download-only "qemu=$SRCVER")
dsc=$(ls "$WORK"/dl/qemu_*.dsc 2>/dev/null | head -n 1)
[ -n "$dsc" ] || die "no .dsc downloaded for qemu=$SRCVER"
say "unpacking $(basename "$dsc") (with Debian's patches)"
logged "$WORK/dpkg-source.log" dpkg-source -x "$dsc" "$WORK/src"

# The build stamp is derived from the QEMU version, --with-pkgversion and the
# configure script, so it matches Debian's as long as these three do.  The rest of
# the configuration only has to be ABI-compatible for this module.
mkdir -p "$WORK/build"
say "configuring (this takes a minute or two)"
(cd "$WORK/build" && logged "$WORK/configure.log" ../src/configure \
    --target-list=arm-softmmu \
    --with-pkgversion="Debian $BINVER" \
    --enable-modules \
    --prefix=/usr --libdir=/usr/lib/x86_64-linux-gnu --libexecdir=/usr/lib/qemu \
    --without-default-features --enable-fdt=system \
    --disable-docs --disable-tools --disable-xen --with-git-submodules=ignore)
grep -q CONFIG_STAMP "$WORK/build/config-host.h" || die "configure produced no CONFIG_STAMP"
say "building $MODULE"
logged "$WORK/ninja.log" ninja -C "$WORK/build" "$MODULE"
[ -f "$WORK/build/$MODULE" ] || die "ninja finished but $WORK/build/$MODULE is missing"
cp "$WORK/build/$MODULE" "$MODDIR/.$MODULE.tmp"
mv -f "$MODDIR/.$MODULE.tmp" "$MODDIR/$MODULE"

check_module "$MODDIR" || die "the freshly built $MODULE does not work with $QEMU_BIN (logs in $WORK)"
if [ "${NORCOMPAT_QEMU_KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK"
fi
finish
