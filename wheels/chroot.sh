#!/usr/bin/env bash
# wheels/chroot.sh - Debian userlands (debootstrap chroots) that test a built wheel.
#
#   bash wheels/chroot.sh make NAME            create (once) the chroot NAME, cached
#   bash wheels/chroot.sh test NAME WHEEL OUT  install WHEEL[test] in a fresh venv inside
#                                              NAME, run the test suite, write OUT.log and the
#                                              pytest closing line to OUT.txt
#
# NAME is one of
#   bullseye  Debian 11 (glibc 2.31, the oldest Debian userland the mirror still has). Its
#             python3 is 3.9, older than dlcore supports, so CPython 3.11 is built from
#             Debian's own source package (bookworm's python3.11, `apt-get source`) into
#             /opt/python3.11 inside the chroot (a few minutes on 2 cores, once);
#   trixie    Debian 13, CPython 3.13;
#   sid       Debian unstable (forky), CPython 3.14;
#   bookworm-arm64  Debian 12 for aarch64, run under qemu-user (needs qemu-user-static and
#             binfmt-support); used by wheels/build_aarch64.sh. Two settings for emulation
#             only: QEMU_CPU (default neoverse-n1), since under qemu's default CPU OpenBLAS
#             picks its SME kernels, which give wrong numbers there; KMP_TOPOLOGY_METHOD=flat,
#             since qemu-user shows the x86-64 host's /proc/cpuinfo to the aarch64 process and
#             LLVM's libomp aborts parsing it ("Assertion failure at kmp_affinity.cpp(3209)").
# Chroots live in wheels/.cache/chroots/ (gitignored); delete a folder to rebuild it. Needs
# root, debootstrap, and the network to Debian's archive and PyPI (nothing else).
# Environment: TEST_ARGS (pytest selection, default: the whole tests/ folder), SMOKE=1 (also
# run wheels/smoke.py after the tests, its JSON line into OUT.smoke.json), FIND_LINKS (a folder
# of wheels for the chroot's platform, downloaded beforehand: install from it with --no-index,
# which spares pip's resolving and downloading under qemu),
# DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache="$here/.cache/chroots"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"

suite_of() { case "$1" in bookworm-arm64) echo bookworm ;; *) echo "$1" ;; esac; }
arch_of() { case "$1" in *-arm64) echo arm64 ;; *) echo amd64 ;; esac; }
python_of() { case "$1" in bullseye) echo /opt/python3.11/bin/python3.11 ;; *) echo python3 ;; esac; }

mounts() {  # mount | umount the pseudo filesystems the tests need (/proc/self/maps, /dev/shm)
  local dir=$1 op=$2
  if [ "$op" = mount ]; then
    mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
    mountpoint -q "$dir/dev" || mount --rbind /dev "$dir/dev"
    mountpoint -q "$dir/dev" && mount --make-rslave "$dir/dev"
  else
    mountpoint -q "$dir/dev" && umount -R "$dir/dev" || true
    mountpoint -q "$dir/proc" && umount "$dir/proc" || true
  fi
}

host_net() {  # name resolution and the host's CA bundle and pip settings (PyPI through them)
  local dir=$1
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mkdir -p "$dir/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
}

make_chroot() {
  local name=$1 dir="$cache/$1"
  exec 9>"$cache/$name.lock"
  flock 9  # one builder per chroot; a second caller waits, then finds it ready
  [ -f "$dir/.dlcore-ready" ] && { echo "chroot $name: cached ($dir)"; return 0; }
  local suite arch extra=()
  suite=$(suite_of "$name")
  arch=$(arch_of "$name")
  if [ "$arch" != amd64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
      { echo "chroot $name: needs qemu-user-static and binfmt-support (apt-get install)" >&2; return 1; }
    extra=(--arch "$arch")
  fi
  mounts "$dir" umount  # never delete through a /dev or /proc left mounted by a killed run
  rm -rf --one-file-system "$dir"
  echo "chroot $name: debootstrap $suite ($arch)"
  local t0=$SECONDS
  debootstrap --variant=minbase "${extra[@]}" \
    --include=python3,python3-venv,ca-certificates "$suite" "$dir" "$mirror" >"$cache/$name.debootstrap.log" 2>&1 ||
    { tail -20 "$cache/$name.debootstrap.log"; return 1; }
  host_net "$dir"
  if [ "$name" = bullseye ]; then
    echo "chroot $name: CPython 3.11 from Debian's source package (bookworm python3.11)"
    echo "deb-src $mirror bookworm main" >"$dir/etc/apt/sources.list.d/bookworm-src.list"
    mounts "$dir" mount
    chroot "$dir" /bin/sh -euc '
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends dpkg-dev xz-utils gcc make libc6-dev \
        libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev >/dev/null
      mkdir -p /opt/src && cd /opt/src && apt-get source -qq --download-only python3.11 >/dev/null
      dpkg-source -x --no-check --skip-patches python3.11_*.dsc py >/dev/null
      cd py && ./configure -q --prefix=/opt/python3.11 --without-static-libpython >/dev/null
      make -s -j2 >/dev/null 2>&1 && make -s altinstall >/dev/null 2>&1
      /opt/python3.11/bin/python3.11 -c "import ssl, zlib, ctypes, bz2, lzma; print(\"built\", __import__(\"sys\").version)"
      cd / && rm -rf /opt/src' || { mounts "$dir" umount; return 1; }
    mounts "$dir" umount
  fi
  touch "$dir/.dlcore-ready"
  echo "chroot $name: ready in $((SECONDS - t0)) s: $(chroot "$dir" "$(python_of "$name")" --version)"
}

test_in_chroot() {
  local name=$1 wheel=$2 out=$3 dir="$cache/$1"
  [ -f "$dir/.dlcore-ready" ] || make_chroot "$name"
  local py
  py=$(python_of "$name")
  host_net "$dir"
  local pipflags=""
  rm -rf "$dir/tmp/dlcore-test" && mkdir -p "$dir/tmp/dlcore-test"
  cp "$wheel" "$dir/tmp/dlcore-test/"
  cp -r "$root/tests" "$root/pyproject.toml" "$dir/tmp/dlcore-test/"
  cp "$root/wheels/smoke.py" "$dir/tmp/dlcore-test/"
  if [ -n "${FIND_LINKS:-}" ]; then
    cp -r "$FIND_LINKS" "$dir/tmp/dlcore-test/wheels"
    pipflags="--no-index --find-links ./wheels"
  fi
  find "$dir/tmp/dlcore-test" -name __pycache__ -prune -exec rm -rf {} +
  if [ -d "$root/../shared/book-params" ]; then
    cp -r "$root/../shared/book-params" "$dir/tmp/dlcore-test/book-params"
  fi
  mounts "$dir" mount
  trap 'mounts "'"$dir"'" umount' RETURN
  local w qemu=()
  w=$(basename "$wheel")
  # under qemu, pip's byte-compiling of every installed module (matplotlib, numpy, ...) takes
  # minutes; Python compiles what the tests import instead
  if [ "$(arch_of "$name")" != amd64 ]; then
    qemu=(QEMU_CPU="${QEMU_CPU:-neoverse-n1}" KMP_TOPOLOGY_METHOD=flat)
    pipflags="$pipflags --no-compile"
  fi
  rm -f "$out.smoke.json"
  set +e
  chroot "$dir" /usr/bin/env -i "${qemu[@]}" PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DLCORE_BOOK_PARAMS=/tmp/dlcore-test/book-params TEST_ARGS="${TEST_ARGS:-tests}" \
    SMOKE="${SMOKE:-0}" /bin/sh -euc "
      cd /tmp/dlcore-test
      $py -m venv venv
      venv/bin/python -m pip install -q --only-binary :all: $pipflags './$w[test]'
      venv/bin/python -c 'import sys, dlcore; print(\"python\", sys.version.split()[0], __import__(\"os\").confstr(\"CS_GNU_LIBC_VERSION\")); dlcore.show_config()'
      if [ \"\$SMOKE\" = 1 ]; then (cd / && /tmp/dlcore-test/venv/bin/python /tmp/dlcore-test/smoke.py >/tmp/dlcore-test/smoke.json) || echo 'smoke.py failed'; fi
      venv/bin/python -m pytest \$TEST_ARGS -q -p no:cacheprovider
    " >"$out.log" 2>&1
  local rc=$?
  set -e
  [ ! -s "$dir/tmp/dlcore-test/smoke.json" ] || cp "$dir/tmp/dlcore-test/smoke.json" "$out.smoke.json"
  tail -1 "$out.log" | sed 's/=//g; s/^ *//; s/ *$//' >"$out.txt"
  echo "chroot $name: $(head -1 "$out.log" | grep python || true) -> $(cat "$out.txt") (exit $rc)"
  return $rc
}

case "${1:-}" in
  make) make_chroot "$2" ;;
  test) test_in_chroot "$2" "$3" "$4" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
