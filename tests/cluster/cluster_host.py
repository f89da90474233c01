"""One host of the cluster tier: a Debian 12 container booted with systemd-nspawn.

Both hosts boot one shared lower directory (the cached root filesystem with the build
installed) with `--overlay=+/:UPPER:/`: each host's changes, and the files that make it its own
host (written below before the boot), live in its UPPER directory. Unpacking once and copying
nothing is the fastest way measured to get two roots (one untar; copies or a second untar cost
1-4 s more on these machines).

Both containers share the outer machine's network namespace, so each host's libvirtd, QEMU
migration and NBD ports must differ; all of it listens on 127.0.0.1 only. From outside, a
host's files are read under /proc/PID/root (PID its systemd): its /run is a tmpfs that nspawn
mounts and its root is the overlay, neither visible in the directories themselves.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import nspawn_host  # noqa: E402

READY_S = 60
# libvirtd's TCP port and the QEMU migration port range of each host: away from libvirt's
# defaults (16509, 49152-49215) so that a libvirtd of the outer machine or of the e2e tier
# does not collide.
HOSTS = (("a", 16601, (49400, 49415), "5c7a7a00-c105-4000-8000-00000000000a"),
         ("b", 16602, (49420, 49435), "5c7a7a00-c105-4000-8000-00000000000b"))
BOOT_DIR = "/var/lib/libvirt/boot"
# Where each guest's serial console goes: the same path on both hosts, since the domain's XML
# migrates with it.
CONSOLE_DIR = "/var/lib/libvirt/console"
# One directory of the outer machine that both hosts mount here, as hosts mount an NFS export:
# the shared-pool check's pool ([pool] shared = yes) is in it.
SHARED_DIR = "/var/lib/virt-scratch/shared"


def wait_until(predicate, timeout, interval=0.1):
    """Polls PREDICATE until it returns something true or TIMEOUT seconds pass; returns its last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class ClusterDown(Exception):
    """The two hosts did not come up; the message says why."""


def port_taken(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def make_hosts(work, log):
    """Hosts a and b, not booted yet; their files go under WORK, their commands into LOG."""
    return [ClusterHost(name, port, migration, uuid, work, log)
            for name, port, migration, uuid in HOSTS]


def boot_hosts(hosts, build, guest_dir, work, phase):
    """Unpacks the cached root filesystem once as the lower directory both hosts share, installs
    BUILD into it, and boots HOSTS; returns once each libvirtd answers over TCP. PHASE(text) is
    told each step. Raises ClusterDown naming why not; the caller powers the hosts off."""
    taken = [host.port for host in hosts if port_taken(host.port)]
    if taken:
        raise ClusterDown("port %s on 127.0.0.1 is taken: another libvirtd or cluster run holds "
                          "it" % taken)
    phase("unpacking the root filesystem and installing the build")
    os.makedirs(os.path.join(work, "shared"))
    lower = os.path.join(work, "lower")
    nspawn_host.unpack(nspawn_host.rootfs_tarball(), lower)
    nspawn_host.install(lower, build)
    for host in hosts:
        host.prepare(lower, guest_dir)
    phase("booting hosts " + " and ".join(host.name for host in hosts))
    for host in hosts:
        host.boot(lower)
    for host in hosts:
        why = host.wait_ready(READY_S)
        if why:
            raise ClusterDown(why)


class ClusterHost:
    def __init__(self, name, libvirt_port, migration_ports, host_uuid, work, log):
        self.name = name
        self.hostname = "vs-cluster-" + name
        self.port = libvirt_port
        self.migration_ports = migration_ports
        self.host_uuid = host_uuid
        self.upper = os.path.join(work, name)
        self.console = os.path.join(work, name + "-console.log")
        self.uri = "qemu+tcp://127.0.0.1:%d/system" % libvirt_port
        self.log = log
        self.nspawn = None

    # --- before the boot: what makes this host its own, written into its upper directory
    def prepare(self, lower, guest_dir):
        up = self.upper
        os.makedirs(up)
        # systemd sets the hostname from /etc/hostname, over nspawn's --hostname. libvirt
        # refuses a migration between hosts of the same hostname or host UUID.
        nspawn_host.write(os.path.join(up, "etc/hostname"), self.hostname + "\n")
        self._append(lower, "etc/libvirt/libvirtd.conf", """
# The cluster tier (tests only): libvirt takes the host UUID from SMBIOS, the same for every
# container on one machine. Under socket activation listen_tcp, tcp_port and listen_addr are
# ignored: libvirtd-tcp.socket (below) says where it listens, and auth_tcp still applies.
host_uuid = "%s"
auth_tcp = "none"
""" % self.host_uuid)
        low, high = self.migration_ports
        self._append(lower, "etc/libvirt/qemu.conf", """
# The cluster tier: the host's cgroup hierarchy is read-only inside the container; incoming
# migrations (memory and the NBD server of --copy-storage-all) take ports from this range,
# apart from the other host's. libvirtd refuses a loopback address in migration_host and
# migration_address ("must not be the address of the local machine"): the callers give
# --migrateuri and --listen-address instead.
cgroup_controllers = [ ]
migration_port_min = %d
migration_port_max = %d
""" % (low, high))
        # Debian 12's libvirtd is socket-activated: the TCP socket unit is what listens.
        nspawn_host.write(os.path.join(up, "etc/systemd/system/libvirtd-tcp.socket.d/50-cluster.conf"),
                          "[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n" % self.port)
        wants = os.path.join(up, "etc/systemd/system/sockets.target.wants")
        os.makedirs(wants, exist_ok=True)
        os.symlink("/lib/systemd/system/libvirtd-tcp.socket",
                   os.path.join(wants, "libvirtd-tcp.socket"))
        # At power-off it would suspend (managedsave) or shut down every guest in turn, with
        # minutes of timeout for a guest that ignores ACPI; the tier destroys its guests itself.
        os.symlink("/dev/null", os.path.join(up, "etc/systemd/system/libvirt-guests.service"))
        # QEMU runs as libvirt-qemu: the kernel and initrd must be readable by it, the console
        # directory writable.
        boot = os.path.join(up, BOOT_DIR.lstrip("/"))
        os.makedirs(boot)
        for name in ("vmlinuz", "initrd.gz"):
            shutil.copy(os.path.join(guest_dir, name), boot)
            os.chmod(os.path.join(boot, name), 0o644)
        console = os.path.join(up, CONSOLE_DIR.lstrip("/"))
        os.makedirs(console)
        uid, gid = self._user(lower, "libvirt-qemu")
        os.chown(console, uid, gid)

    def _append(self, lower, relative, text):
        target = os.path.join(self.upper, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(lower, relative), target)
        with open(target, "a") as f:
            f.write(text)

    @staticmethod
    def _user(lower, name):
        with open(os.path.join(lower, "etc/passwd")) as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == name:
                    return int(fields[2]), int(fields[3])
        raise RuntimeError("the root filesystem has no user " + name)

    # --- running
    def boot(self, lower):
        shared = os.path.join(os.path.dirname(self.upper), "shared")
        self.nspawn = nspawn_host.start(lower, self.console, [
            "--overlay=+/:%s:/" % self.upper, "--hostname=" + self.hostname,
            "--bind=%s:%s" % (shared, SHARED_DIR)])

    def alive(self):
        return self.nspawn is not None and self.nspawn.poll() is None

    def wait_ready(self, timeout):
        """Waits until this host's own libvirtd answers over TCP (its hostname, not another
        libvirtd that holds the port) and its system bus is there. None, or why not."""
        def ready():
            if not self.alive():
                return "stopped"
            r = self.virsh("hostname", timeout=10, quiet=True)
            return (r.returncode == 0 and r.stdout.strip() == self.hostname and
                    os.path.exists(self.path("/run/dbus/system_bus_socket")))
        state = wait_until(ready, timeout, interval=0.2)
        if state is True:
            return None
        if state == "stopped":
            return "host %s stopped during its boot (see %s)" % (self.name, self.console)
        r = self.virsh("hostname", timeout=10, quiet=True)
        return "host %s: libvirtd did not answer on %s within %d s (%s)" % (
            self.name, self.uri, timeout, (r.stderr or r.stdout).strip())

    def pid(self):
        return nspawn_host.init_pid(self.nspawn) if self.nspawn else None

    def path(self, inside):
        """A path inside the running host, as seen from outside."""
        return "/proc/%s/root%s" % (self.pid(), inside)

    def run(self, argv, timeout=60, env=None, quiet=False):
        """Runs ARGV on the outer machine, noting it and what it printed in the transcript."""
        start = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            r = subprocess.CompletedProcess(argv, 124, e.stdout or "",
                                            "timed out after %d s" % timeout)
            if isinstance(r.stdout, bytes):
                r.stdout = r.stdout.decode(errors="replace")
        if not quiet:
            self.log("[%s] $ %s  (exit %d, %.1f s)\n%s%s" % (
                self.name, " ".join(argv), r.returncode, time.monotonic() - start,
                r.stdout, r.stderr))
        return r

    def virsh(self, *args, timeout=60, quiet=False):
        return self.run(["virsh", "-q", "-c", self.uri] + list(args), timeout=timeout, quiet=quiet)

    def scratch(self, cli, *args, timeout=120):
        """The built virt-scratch on the outer machine, talking to this host's virt-scratchd
        over this host's system bus (as root)."""
        env = dict(os.environ,
                   DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + self.path("/run/dbus/system_bus_socket"))
        return self.run([cli] + list(args), timeout=timeout, env=env)

    def inside(self, *argv, timeout=60):
        """ARGV run inside the host (its mount, UTS, IPC and PID namespaces and root)."""
        return self.run(["nsenter", "-t", str(self.pid()), "-m", "-u", "-i", "-p", "-r", "-w"] +
                        list(argv), timeout=timeout)

    # --- after the checks
    def power_off(self):
        if self.nspawn is None:
            return True
        return nspawn_host.stop(self.nspawn)

    def collect(self, results):
        """Copies this host's journals and guest consoles into RESULTS, once it is off."""
        journal = os.path.join(self.upper, "var/log/journal")
        for unit, name in (("virt-scratchd.service", "virt-scratchd"),
                           ("libvirtd.service", "libvirtd"), (None, "journal")):
            argv = ["journalctl", "-D", journal, "--no-pager", "-o", "short-precise"]
            if unit:
                argv += ["-u", unit]
            with open(os.path.join(results, "%s-%s.txt" % (self.name, name)), "w") as out:
                subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=60)
        # check_result.py points at journal.txt: the daemon's journal of both hosts.
        with open(os.path.join(results, "journal.txt"), "a") as out, \
                open(os.path.join(results, "%s-virt-scratchd.txt" % self.name)) as f:
            out.write("=== host %s (%s)\n" % (self.name, self.hostname) + f.read())
        consoles = os.path.join(self.upper, CONSOLE_DIR.lstrip("/"))
        if os.path.isdir(consoles):
            for name in os.listdir(consoles):
                shutil.copy(os.path.join(consoles, name),
                            os.path.join(results, "%s-guest-%s" % (self.name, name)))
        if os.path.exists(self.console):
            shutil.copy(self.console, os.path.join(results, "%s-console.log" % self.name))
