#!/usr/bin/env bash
# The Debian package's tests (tests/package/CMakeLists.txt), one step each:
#   package_test.sh build DIR      scripts/package -o DIR (the fixture the system tier installs)
#   package_test.sh lintian DIR    lintian on DIR's .changes: fails on any error or warning
#   package_test.sh contents DIR   every file where Debian expects it, read with dpkg-deb
# Exits 77 (skipped) when the packaging tools are missing (scripts/deps installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
step=${1:?usage: package_test.sh build|lintian|contents DIR}
out=${2:?usage: package_test.sh build|lintian|contents DIR}
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)

for tool in dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool is missing (scripts/deps)"; exit 77; }
done

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The one file of DIR matching a name, or a failure naming what is missing.
one() {
  local f
  f=$(find "$out" -maxdepth 1 -name "$1" | head -n 1)
  [ -n "$f" ] || fail "no $1 in $out (did Package.BuildsTheDebs pass?)"
  echo "$f"
}

cmd_build() {
  rm -rf "$out"
  mkdir -p "$out"
  # Niced: the build shares the machine with the other tests, some of which have deadlines.
  # noddebs: no -dbgsym package (nothing tests it; it saves a tenth of the build), the others
  # are built as scripts/package builds them.
  DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=$(nproc) noddebs} \
    nice -n 10 "$root/scripts/package" --output "$out"
}

cmd_lintian() {
  local changes report
  changes=$(one "virt-scratch_${version}_${arch}.changes")
  # lintian asks not to be run as root; the files are world-readable.
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    as=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp)
    chmod a+rx "$out"
  fi
  # --pedantic -I: everything is shown; only errors and warnings fail.
  report=$("${as[@]}" lintian --pedantic -I --show-overrides "$changes" 2>&1) ||
    { echo "$report"; fail "lintian failed on $changes"; }
  echo "$report" | tee "$out/lintian.txt"
  if grep -E '^[EW]: ' <<<"$report" >/dev/null; then
    fail "lintian reports errors or warnings (above)"
  fi
  echo "lintian: no error, no warning"
}

cmd_contents() {
  local deb dev listing conffiles
  deb=$(one "virt-scratch_${version}_${arch}.deb")
  dev=$(one "libvirtscratch-client-dev_${version}_${arch}.deb")
  listing=$(dpkg-deb -c "$deb" | awk '{ $1=$2=$3=$4=$5=""; sub(/^ +/, ""); print }')
  for path in \
    ./usr/bin/virt-scratch \
    ./usr/libexec/virt-scratchd \
    ./usr/libexec/virt-scratch-hook \
    ./lib/systemd/system/virt-scratchd.service \
    ./usr/share/dbus-1/system.d/org.virtscratch.Scratch1.conf \
    ./usr/share/dbus-1/system-services/org.virtscratch.Scratch1.service \
    ./usr/share/dbus-1/interfaces/org.virtscratch.Scratch1.xml \
    ./usr/share/polkit-1/actions/org.virtscratch.scratch1.policy \
    ./usr/share/polkit-1/rules.d/60-org.virtscratch.scratch1.rules \
    ./etc/virt-scratch/virt-scratchd.conf \
    ./etc/virt-scratch/virt-scratchd.conf.d/50-libvirt.conf; do
    grep -qx -- "$path" <<<"$listing" || fail "virt-scratch has no $path"
  done
  # libvirtd reads hooks from /etc/libvirt/hooks/qemu.d (following links); the program itself
  # lives in /usr/libexec.
  grep -qx -- "./etc/libvirt/hooks/qemu.d/virt-scratch -> /usr/libexec/virt-scratch-hook" \
    <<<"$listing" || fail "virt-scratch has no hook link /etc/libvirt/hooks/qemu.d/virt-scratch -> /usr/libexec/virt-scratch-hook"
  # Nothing under /usr/local, and the unit starts the daemon the package ships.
  ! grep -q '^\./usr/local' <<<"$listing" || fail "virt-scratch installs into /usr/local"
  # Read whole first: grep -q leaving early would give tar SIGPIPE, and pipefail a false failure.
  unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/virt-scratchd.service)
  grep -qx 'ExecStart=/usr/libexec/virt-scratchd' <<<"$unit" ||
    fail "the unit's ExecStart= is not /usr/libexec/virt-scratchd"

  conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
  for path in /etc/virt-scratch/virt-scratchd.conf /etc/virt-scratch/virt-scratchd.conf.d/50-libvirt.conf; do
    grep -qx -- "$path" <<<"$conffiles" || fail "$path is not a conffile (conffiles: $conffiles)"
  done

  listing=$(dpkg-deb -c "$dev" | awk '{ print $6 }')
  local multiarch
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  for path in \
    ./usr/include/virt-scratch/client/scratch_client.h \
    "./usr/lib/$multiarch/pkgconfig/virt-scratch-client.pc" \
    "./usr/lib/$multiarch/virt-scratch/libvirtscratch_client.a"; do
    grep -qx -- "$path" <<<"$listing" || fail "libvirtscratch-client-dev has no $path"
  done
  pc=$(dpkg-deb --fsys-tarfile "$dev" | tar -xOf - "./usr/lib/$multiarch/pkgconfig/virt-scratch-client.pc")
  grep -qx "libdir=\${prefix}/lib/$multiarch/virt-scratch" <<<"$pc" ||
    fail "virt-scratch-client.pc's libdir is not \${prefix}/lib/$multiarch/virt-scratch"
  echo "every file is where Debian expects it"
}

case $step in
  build) cmd_build ;;
  lintian) cmd_lintian ;;
  contents) cmd_contents ;;
  *) fail "unknown step $step" ;;
esac
