#!/usr/bin/env bash
# build-qemu.sh - build a qemu-system-arm of another QEMU version for norcompat's
# cross-version comparisons, into a cache directory outside the repository.
#
# Usage:   scripts/build-qemu.sh debian:SUITE:VERSION    (a Debian source package)
#              e.g. scripts/build-qemu.sh debian:trixie:1:10.0.13+ds-0+deb13u1
#          scripts/build-qemu.sh /path/to/qemu-source-tree    (a local QEMU checkout)
# Env:     NORCOMPAT_QEMU_CACHE  cache root (default: $HOME/.cache/norcompat/qemu)
#          NORCOMPAT_QEMU_KEEP_WORK=1  keep the source/build tree after a build
#          NORCOMPAT_QEMU_REBUILD=1    rebuild even if the cached binary works
#
# What it does:
#   1. if <cache>/qemu-X.Y.Z/ already holds a binary built from the same source and
#      it answers `clock_step 10` with `OK 10` under `-accel qtest`: nothing else;
#   2. otherwise installs the build dependencies with apt-get (as root), gets the
#      source (Debian: a private apt state with deb-src entries for SUITE, derived
#      from /etc/apt/sources.list.d/debian.sources, then `apt-get source
#      --download-only` and `dpkg-source -x`; the system's apt config is untouched);
#   3. gets the Meson the source asks for (pythondeps.toml): QEMU's release tarball
#      ships it as a wheel in python/wheels, Debian's tarball strips that, and
#      bookworm's meson 1.0.1 is too old for QEMU >= 9.1 (10.0 wants >= 1.5.0), so pip
#      installs that exact version from PyPI into <cache>/tools/meson-V, whose python
#      is then handed to configure (--python), whose mkvenv picks that Meson up;
#   4. configures arm-softmmu only, --without-default-features, modules disabled (so
#      qtest is built in and `-accel qtest` needs no module dir), system libfdt,
#      pixman, no docs/tools/plugins/GUI/slirp, no firmware blobs (Debian's tarball
#      strips them; qtest on virt/musicpal needs none), and compiles only the
#      qemu-system-arm target (`nice -n 10 ninja -j2`, not the unit/fp tests);
#   5. installs <cache>/qemu-X.Y.Z/bin/qemu-system-arm plus share/qemu (keymaps and
#      whichever arm firmware files the source has), checks it, writes
#      <cache>/qemu-X.Y.Z.env with NORCOMPAT_QEMU_X_Y=<binary> and prints the binary
#      path last (all other messages go to stderr).
# The meson subprojects a system build needs (keycodemapdb, berkeley-softfloat-3
# and berkeley-testfloat-3, the latter two because configure always sets up the fp
# tests when TCG is built) are in QEMU's and Debian's tarballs; a git checkout
# must have them (`meson subprojects download`): this machine cannot fetch them.
#
# Measured on 2 cores (debian:trixie:1:10.0.13+ds-0+deb13u1, dependencies already
# installed): a fresh run took 6 min 32 s (source index, download and unpack ~10 s,
# meson venv ~6 s, configure ~15 s, compile of 1802 ninja steps 349 s); a local
# tree took 6 min 34 s; a run with an intact cache takes 0.1 s.  The result needs
# ~85 MB (<cache>/qemu-X.Y.Z) plus ~40 MB for the meson venv (<cache>/tools).
set -euo pipefail

CACHE_ROOT=${NORCOMPAT_QEMU_CACHE:-${HOME:-/root}/.cache/norcompat/qemu}
TARGET=arm-softmmu
BINARY=qemu-system-arm
JOBS=2
export DEBIAN_FRONTEND=noninteractive

say() { printf 'build-qemu: %s\n' "$*" >&2; }
die() {
    printf '\nbuild-qemu: ERROR: %s\n' "$*" >&2
    exit 1
}
# Runs a command with its output going to a log file; on failure shows the log's tail.
logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        printf '\nbuild-qemu: command failed: %s\n--- last lines of %s ---\n' "$*" "$log" >&2
        tail -n 40 "$log" >&2
        die "step failed (full log: $log)"
    fi
}
trap 'rc=$?; [ $rc -eq 0 ] || printf "build-qemu: FAILED (exit status %s)\n" "$rc" >&2' EXIT

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- arguments
[ $# -eq 1 ] || usage
SPEC=$1
case "$SPEC" in
    -h | --help) usage ;;
    debian:*:*)
        KIND=debian
        rest=${SPEC#debian:}
        SUITE=${rest%%:*}
        DEBVER=${rest#*:}
        [ -n "$SUITE" ] && [ -n "$DEBVER" ] || die "expected debian:SUITE:VERSION, got '$SPEC'"
        printf '%s' "$SUITE" | grep -Eq '^[a-z][a-z0-9-]*$' || die "bad suite name '$SUITE'"
        SOURCE_ID="debian:$SUITE:$DEBVER"
        ;;
    debian:*) die "expected debian:SUITE:VERSION (e.g. debian:trixie:1:10.0.13+ds-0+deb13u1), got '$SPEC'" ;;
    *)
        KIND=local
        [ -d "$SPEC" ] || die "'$SPEC' is neither debian:SUITE:VERSION nor a directory"
        SRC=$(cd "$SPEC" && pwd -P)
        [ -f "$SRC/configure" ] && [ -f "$SRC/VERSION" ] && [ -f "$SRC/meson.build" ] ||
            die "$SRC does not look like a QEMU source tree (no configure, VERSION or meson.build)"
        SOURCE_ID="local:$SRC version $(head -n 1 "$SRC/VERSION")"
        if [ -e "$SRC/.git" ] && command -v git >/dev/null; then
            head=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)
            dirty=
            [ -z "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=+dirty
            SOURCE_ID="$SOURCE_ID git $head$dirty"
        fi
        ;;
esac

mkdir -p "$CACHE_ROOT"
exec 7>"$CACHE_ROOT/.build-qemu.lock"
flock 7 # one build at a time per cache

# ---------------------------------------------------------------- checks
# Checks the binary in $1 (expected version $2); prints why on failure.
check_binary() {
    local bin=$1 want=$2 ver answer err pid in out
    [ -x "$bin" ] || { say "no executable $bin"; return 1; }
    ver=$(env -u QEMU_MODULE_DIR timeout 20 "$bin" -version 2>&1 | head -n 1) || true
    case "$ver" in
        "QEMU emulator version $want"*) ;;
        *) say "$bin -version said '$ver' (expected QEMU emulator version $want)"; return 1 ;;
    esac
    err=$(mktemp)
    in=$(mktemp -u)
    out=$(mktemp -u)
    mkfifo "$in" "$out"
    env -u QEMU_MODULE_DIR timeout 30 "$bin" -M virt -accel qtest -qtest stdio \
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
    say "ok: $ver; qtest 'clock_step 10' -> 'OK 10'"
}

# Writes <cache>/qemu-X.Y.Z.env for the prefix in $1 (version $2), prints the binary.
finish() {
    local prefix=$1 version=$2 var tmp env_file
    var=NORCOMPAT_QEMU_$(printf '%s' "$version" | awk -F. '{print $1 "_" $2}')
    env_file=$CACHE_ROOT/qemu-$version.env
    if [ "$(cat "$env_file" 2>/dev/null || true)" != "$var=$prefix/bin/$BINARY" ]; then
        tmp=$(mktemp "$CACHE_ROOT/.env.XXXXXX")
        printf '%s=%s\n' "$var" "$prefix/bin/$BINARY" >"$tmp"
        chmod 644 "$tmp"
        mv -f "$tmp" "$env_file"
        say "wrote $env_file"
    fi
    echo "$prefix/bin/$BINARY"
    exit 0
}

# ---------------------------------------------------------------- 1. cached?
stamp_value() { sed -n "s/^$2=//p" "$1" | head -n 1; }
if [ "${NORCOMPAT_QEMU_REBUILD:-0}" != 1 ]; then
    for stamp in "$CACHE_ROOT"/qemu-*/.norcompat-build; do
        [ -f "$stamp" ] || continue
        [ "$(stamp_value "$stamp" source)" = "$SOURCE_ID" ] || continue
        prefix=$(dirname "$stamp")
        version=$(stamp_value "$stamp" version)
        say "cached build of $SOURCE_ID in $prefix"
        if check_binary "$prefix/bin/$BINARY" "$version"; then
            finish "$prefix" "$version"
        fi
        say "the cached binary failed the check; rebuilding"
    done
fi

# ---------------------------------------------------------------- 2. dependencies
[ "$(id -u)" -eq 0 ] || die "building needs root (it installs packages with apt-get)"
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
ensure_packages() {
    local missing=() p log=/tmp/norcompat-apt-install.log
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -gt 0 ] || return 0
    say "apt-get install ${missing[*]}"
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
        [ "$apt_updated" -eq 0 ] || { tail -n 30 "$log" >&2; die "apt-get install failed (log: $log)"; }
        say "install failed with the current package lists; updating them and retrying"
        apt_update_once
        logged "$log" apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}
ensure_packages gcc make pkg-config binutils python3 python3-venv ninja-build \
    libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev dpkg-dev xz-utils
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

TAG=$(printf '%s' "$SOURCE_ID" | tr -c 'A-Za-z0-9.+-' '_' | cut -c1-120)
WORK=$CACHE_ROOT/.work/$TAG
rm -rf "$WORK"
mkdir -p "$WORK"

# ---------------------------------------------------------------- 3. source
if [ "$KIND" = debian ]; then
    SYS_SOURCES=/etc/apt/sources.list.d/debian.sources
    [ -r "$SYS_SOURCES" ] || die "$SYS_SOURCES not found: cannot derive deb-src entries"
    SYS_SUITE=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    [ -n "$SYS_SUITE" ] || SYS_SUITE=$(sed -n 's/^Suites:[[:space:]]*\([a-z]*\).*/\1/p' "$SYS_SOURCES" | head -n 1)
    mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/sources" "$WORK/apt/cache/archives/partial" "$WORK/dl"
    # Each stanza: Types -> deb-src, suite names with the system's codename get the
    # requested one (bookworm-security -> trixie-security); suites that have no
    # -updates/-security/-backports companions lose those.
    awk -v sys="$SYS_SUITE" -v want="$SUITE" '
        function flush() { if (n && keep) printf "%s\n", para; para = ""; n = 0; keep = 1 }
        BEGIN { keep = 1; nocomp = (want ~ /^(sid|unstable|experimental|rc-buggy)$/) }
        /^[[:space:]]*$/ { flush(); next }
        /^Types:/ { line = "Types: deb-src" }
        /^Suites:/ {
            line = "Suites:"; cnt = 0
            for (i = 2; i <= NF; i++) {
                s = $i
                if (index(s, sys) == 1) s = want substr(s, length(sys) + 1)
                if (nocomp && s != want) continue
                line = line " " s; cnt++
            }
            if (cnt == 0) keep = 0
        }
        !/^(Types|Suites):/ { line = $0 }
        { para = para line "\n"; n++ }
        END { flush() }' "$SYS_SOURCES" >"$WORK/apt/sources/debian-src.sources"
    grep -q '^Suites: ' "$WORK/apt/sources/debian-src.sources" || die "no deb-src entries derived from $SYS_SOURCES"
    APT_PRIV=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$WORK/apt/sources"
        -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
        -o "APT::Sandbox::User=root")
    say "fetching Debian $SUITE source index (private apt state in $WORK/apt)"
    logged "$WORK/apt-update.log" apt-get "${APT_PRIV[@]}" update
    avail=$(apt-cache "${APT_PRIV[@]}" showsrc qemu 2>/dev/null | awk '/^Version:/ {print $2}' | sort -u | tr '\n' ' ')
    printf '%s\n' $avail | grep -qxF "$DEBVER" ||
        die "Debian $SUITE serves no source for qemu $DEBVER (available: ${avail:-none})"
    say "downloading source package qemu=$DEBVER"
    (cd "$WORK/dl" && logged "$WORK/apt-source.log" \
        apt-get "${APT_PRIV[@]}" source --download-only "qemu=$DEBVER")
    dsc=$(ls "$WORK"/dl/qemu_*.dsc 2>/dev/null | head -n 1)
    [ -n "$dsc" ] || die "no .dsc downloaded for qemu=$DEBVER"
    say "unpacking $(basename "$dsc") (with Debian's patches)"
    logged "$WORK/dpkg-source.log" dpkg-source -x "$dsc" "$WORK/src"
    SRC=$WORK/src
    PKGVERSION="Debian $DEBVER, norcompat build"
else
    PKGVERSION="norcompat build"
fi

VERSION=$(head -n 1 "$SRC/VERSION" | tr -d '[:space:]')
printf '%s' "$VERSION" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || die "unexpected VERSION '$VERSION' in $SRC"
say "QEMU $VERSION from $SOURCE_ID"

# Subprojects that a system build needs; a tarball has them, a git checkout may not.
for sp in keycodemapdb berkeley-softfloat-3 berkeley-testfloat-3; do
    if [ -f "$SRC/subprojects/$sp.wrap" ] && [ ! -f "$SRC/subprojects/$sp/meson.build" ]; then
        die "$SRC/subprojects/$sp is missing (needed by a system build; this machine cannot
  download it).  Run 'meson subprojects download $sp' in the checkout on a networked
  machine, or build from a QEMU release tarball or a Debian source package instead."
    fi
done

# ---------------------------------------------------------------- 4. meson
CONFIGURE_PY=(--python="$PYTHON")
if [ -f "$SRC/pythondeps.toml" ] && ! ls "$SRC"/python/wheels/meson-*.whl >/dev/null 2>&1; then
    # [meson] meson = { accepted = ">=1.5.0", installed = "1.5.0", canary = "meson" }
    MESON_VER=$(awk '/^\[/ {sec = $0} sec == "[meson]" && /^meson[[:space:]]*=/' "$SRC/pythondeps.toml" |
        sed -n 's/.*installed[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
    [ -n "$MESON_VER" ] || die "cannot read meson's version from $SRC/pythondeps.toml"
    MESON_VENV=$CACHE_ROOT/tools/meson-$MESON_VER
    if [ "$("$MESON_VENV/bin/meson" --version 2>/dev/null || true)" != "$MESON_VER" ]; then
        say "python/wheels has no meson wheel: pip installs meson==$MESON_VER into $MESON_VENV"
        rm -rf "$MESON_VENV"
        mkdir -p "$(dirname "$MESON_VENV")"
        logged "$WORK/meson-venv.log" "$PYTHON" -m venv "$MESON_VENV"
        logged "$WORK/meson-pip.log" "$MESON_VENV/bin/pip" install --no-input "meson==$MESON_VER"
    fi
    CONFIGURE_PY=(--python="$MESON_VENV/bin/python3")
fi

# ---------------------------------------------------------------- 5. configure, build
PREFIX=$CACHE_ROOT/qemu-$VERSION
have_opt() { grep -q -e "$1)" "$SRC/configure" "$SRC/scripts/meson-buildoptions.sh" 2>/dev/null; }
CONF=(--target-list=$TARGET --prefix="$PREFIX" --with-pkgversion="$PKGVERSION"
    --without-default-features --disable-modules --enable-fdt=system --enable-pixman
    --disable-docs --disable-tools --disable-werror)
for o in --disable-plugins --disable-install-blobs --disable-download --disable-rust; do
    if have_opt "$o"; then CONF+=("$o"); fi
done
mkdir -p "$WORK/build"
say "configuring ${CONF[*]}"
(cd "$WORK/build" && logged "$WORK/configure.log" "$SRC/configure" "${CONFIGURE_PY[@]}" "${CONF[@]}")
grep -Eq 'module support +: NO' "$WORK/configure.log" || die "configure did not disable modules (see $WORK/configure.log)"
say "compiling $BINARY (nice -n 10 ninja -j$JOBS; log: $WORK/ninja.log)"
t0=$(date +%s)
logged "$WORK/ninja.log" nice -n 10 ninja -C "$WORK/build" -j"$JOBS" "$BINARY"
say "compiled in $(($(date +%s) - t0)) s"
[ -x "$WORK/build/$BINARY" ] || die "ninja finished but $WORK/build/$BINARY is missing"

# ---------------------------------------------------------------- 6. install
NEW=$CACHE_ROOT/.qemu-$VERSION.new
rm -rf "$NEW"
mkdir -p "$NEW/bin" "$NEW/share/qemu" "$NEW/build-logs"
cp "$WORK/build/$BINARY" "$NEW/bin/$BINARY"
# Data files it may look up (relative to the binary: ../share/qemu); Debian's
# tarball has no prebuilt ROMs, and qtest on virt/musicpal with -nodefaults needs none.
if [ -d "$SRC/pc-bios/keymaps" ]; then
    mkdir -p "$NEW/share/qemu/keymaps"
    find "$SRC/pc-bios/keymaps" -maxdepth 1 -type f ! -name 'meson.build' -exec cp {} "$NEW/share/qemu/keymaps/" \;
fi
copied=
for f in npcm7xx_bootrom.bin npcm8xx_bootrom.bin efi-virtio.rom efi-e1000.rom efi-e1000e.rom \
    efi-rtl8139.rom efi-pcnet.rom efi-ne2k_pci.rom efi-eepro100.rom; do
    if [ -f "$SRC/pc-bios/$f" ]; then
        cp "$SRC/pc-bios/$f" "$NEW/share/qemu/"
        copied="$copied $f"
    fi
done
say "firmware files copied:${copied:- none}"
cp "$WORK/configure.log" "$WORK/ninja.log" "$NEW/build-logs/"
printf 'source=%s\nversion=%s\nbuilt=%s\nconfigure=%s\n' "$SOURCE_ID" "$VERSION" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${CONF[*]}" >"$NEW/.norcompat-build"
# Move it in place (the relocatable binary finds share/qemu relative to itself).
rm -rf "$PREFIX"
mv "$NEW" "$PREFIX"

check_binary "$PREFIX/bin/$BINARY" "$VERSION" || die "the freshly built $PREFIX/bin/$BINARY fails the check (logs in $WORK)"
if [ "${NORCOMPAT_QEMU_KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK"
    rmdir "$CACHE_ROOT/.work" 2>/dev/null || true
fi
finish "$PREFIX" "$VERSION"
