#!/usr/bin/python3
"""Boots two Debian 12 hosts with virt-scratch installed and live-migrates guests between them.

The ctest fixture of the cluster tier. The root filesystem is the system tier's cached tarball
(tests/system/nspawn_host.py), unpacked once as the lower directory both hosts boot with an
overlay each; the build is installed into it with `cmake --install`. The hosts boot in the
background, each with its own hostname, libvirt host UUID, libvirtd TCP port and QEMU migration
ports (cluster_host.py); once each libvirtd answers over TCP the checks run from this, the
outer, machine (cluster_checks.py) and write one "PASS name" or "FAIL name: why" line each to
RESULTS/results. Then the guests are destroyed, both hosts powered off (SIGTERM to nspawn) and
their journals (virt-scratchd, libvirtd, the whole boot), nspawn consoles and guest consoles
copied into RESULTS, with a transcript of every command the checks ran. check_result.py (of
the system tier) reports each check as its own test.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import nspawn_host  # noqa: E402
from cluster_checks import Checks  # noqa: E402
from cluster_host import ClusterDown, boot_hosts, make_hosts  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    parser.add_argument("--results", required=True)
    args = parser.parse_args()
    began = time.monotonic()
    shutil.rmtree(args.results, ignore_errors=True)
    os.makedirs(args.results)
    results = os.path.join(args.results, "results")
    reason = nspawn_host.skip_reason()
    if reason:
        nspawn_host.write(os.path.join(args.results, "skipped"), reason + "\n")
        print("skipped: " + reason)
        return nspawn_host.SKIP
    transcript = open(os.path.join(args.results, "transcript.txt"), "w")

    def log(text):
        transcript.write("%7.1f %s\n" % (time.monotonic() - began, text.rstrip("\n")))
        transcript.flush()

    def phase(what):
        print("%5.1f s  %s" % (time.monotonic() - began, what), flush=True)
        log("--- " + what)

    cli = os.path.join(args.build, "cli", "virt-scratch")
    guest_dir = os.path.join(args.build, "tests", "cluster", "guest")
    work = tempfile.mkdtemp(prefix="virt-scratch-cluster-", dir="/var/tmp")
    hosts = make_hosts(work, log)
    checks = Checks(hosts[0], hosts[1], cli, results, os.urandom(4).hex(), log)
    open(results, "w").close()
    try:
        phase("building the guest (scripts/vm-env guest, cached)")
        subprocess.run([os.path.join(SOURCE, "scripts", "vm-env"), "guest", guest_dir],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            boot_hosts(hosts, args.build, guest_dir, work, phase)
        except ClusterDown as e:
            checks.fail_unrecorded(str(e))
            return 1
        phase("hosts answer on %s and %s; running the checks" % (hosts[0].uri, hosts[1].uri))
        checks.run_all()
    except Exception as e:
        checks.fail_unrecorded("the cluster did not come up: %r" % e)
        raise
    finally:
        phase("destroying the guests and powering the hosts off")
        try:
            checks.clean_up()
        finally:
            for host in hosts:
                if not host.power_off():
                    print("host %s did not power off within %d s; killed it" % (
                        host.name, nspawn_host.STOP_TIMEOUT_S))
            try:
                for host in hosts:
                    host.collect(args.results)
            finally:
                phase("done")
                transcript.close()
                shutil.rmtree(work, ignore_errors=True)
    with open(results) as f:
        sys.stdout.write(f.read())
    print("journals, consoles and the transcript are in " + args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
