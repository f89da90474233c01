#!/usr/bin/python3
"""Boots a Debian 12 host, installs the virt-scratch package in it and runs the checks there.

The root filesystem is made once with mmdebstrap and cached as a tarball keyed by a hash of
rootfs-packages; each run unpacks it into a fresh temporary directory, copies the package that
tests/package built into it, enables checks.service (which runs checks.sh under the booted
systemd: it installs the package with dpkg as an administrator would, runs the checks, purges
the package, and powers the host off), boots it with `systemd-nspawn -b` and copies the results
(one "PASS name" or "FAIL name: why" line per check, and the daemon's journal) out. The checks
themselves are reported by check_result.py, one ctest test each.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from nspawn_host import SKIP, rootfs_tarball, skip_reason, start, stop, unpack, write

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT_TIMEOUT_S = 420
# Where checks.sh finds the package inside the host.
DEBS_IN_HOST = "var/tmp/virt-scratch-debs"


def the_deb(debs):
    """DEBS' virt-scratch_<version>_<arch>.deb (not -dbgsym, not the -dev package)."""
    names = sorted(n for n in os.listdir(debs)
                   if n.startswith("virt-scratch_") and n.endswith(".deb"))
    if len(names) != 1:
        raise SystemExit("expected one virt-scratch_*.deb in %s (Package.BuildsTheDebs makes "
                         "it), found %s" % (debs, names or "none"))
    return os.path.join(debs, names[0])


def prepare(root, deb):
    os.makedirs(os.path.join(root, DEBS_IN_HOST))
    shutil.copy(deb, os.path.join(root, DEBS_IN_HOST))
    shutil.copy(os.path.join(HERE, "checks.sh"), os.path.join(root, "usr/local/sbin/checks.sh"))
    os.chmod(os.path.join(root, "usr/local/sbin/checks.sh"), 0o755)
    write(os.path.join(root, "etc/systemd/system/checks.service"), """[Unit]
Description=virt-scratch system checks
After=dbus.service libvirtd.service multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/checks.sh /system-results
ExecStopPost=/bin/systemctl --no-block poweroff
""")
    # Started by default.target's wants so that it runs after boot settles; After= on
    # multi-user.target needs it to be pulled in by something other than multi-user.target.
    os.makedirs(os.path.join(root, "etc/systemd/system/default.target.wants"), exist_ok=True)
    os.symlink("../checks.service",
               os.path.join(root, "etc/systemd/system/default.target.wants/checks.service"))
    # The unit's WatchdogSec=30s, shortened so that a stopped daemon is restarted within the
    # test's deadline; everything else is the unit as installed.
    write(os.path.join(root, "etc/systemd/system/virt-scratchd.service.d/50-test-watchdog.conf"),
          "[Service]\nWatchdogSec=3s\n")
    # The checks use domain UUIDs that libvirtd does not know; following libvirt would release
    # their images when the daemon connects.
    write(os.path.join(root, "etc/virt-scratch/virt-scratchd.conf.d/90-test-no-libvirt.conf"),
          "[libvirt]\nuri =\n")
    # The host's cgroup hierarchy is read-only inside the container.
    qemu_conf = os.path.join(root, "etc/libvirt/qemu.conf")
    if os.path.exists(qemu_conf):
        with open(qemu_conf, "a") as f:
            f.write("\ncgroup_controllers = [ ]\n")
    os.makedirs(os.path.join(root, "system-results"), exist_ok=True)


def boot(root, log):
    """Boots the host; it powers itself off when the checks are done. True when it did."""
    nspawn = start(root, log)
    try:
        nspawn.wait(timeout=BOOT_TIMEOUT_S)
        return True
    except subprocess.TimeoutExpired:
        # The results so far are kept.
        stop(nspawn)
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--debs", required=True,
                        help="the directory of the package (tests/package's build step)")
    parser.add_argument("--results", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.results, ignore_errors=True)
    os.makedirs(args.results)
    reason = skip_reason()
    if reason:
        write(os.path.join(args.results, "skipped"), reason + "\n")
        print("skipped: " + reason)
        return SKIP
    deb = the_deb(args.debs)
    tarball = rootfs_tarball()
    work = tempfile.mkdtemp(prefix="virt-scratch-system-", dir="/var/tmp")
    try:
        root = os.path.join(work, "root")
        unpack(tarball, root)
        prepare(root, deb)
        if not boot(root, os.path.join(args.results, "console.log")):
            print("the host did not power off within %d s; stopped it" % BOOT_TIMEOUT_S)
        produced = os.path.join(root, "system-results")
        for name in os.listdir(produced):
            shutil.copy(os.path.join(produced, name), args.results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = os.path.join(args.results, "results")
    if not os.path.exists(results):
        print("the booted host wrote no results; see " +
              os.path.join(args.results, "console.log"))
        return 1
    with open(results) as f:
        sys.stdout.write(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
