"""The cluster tier's checks, run from the outer machine against two booted hosts A and B.

Each check records one line, "PASS name[: what was seen]" or "FAIL name: why". Three guests are
defined and started on A at once (their boots overlap), each with a virt-scratch disk that
`virt-scratch enable` writes into its definition; each guest writes a marker unique to this run
to its scratch disk and then reads it back from the disk every half second (vm-env's
vs.follow=1), so lines "VS-READ <marker>" in a host's console file show that the disk QEMU has
on that host holds what the guest wrote before it moved. Every wait polls a state with a
deadline.
"""
import json
import os
import re
import threading
import xml.etree.ElementTree as ET

from cluster_host import CONSOLE_DIR, BOOT_DIR, SHARED_DIR, wait_until
import nspawn_host

GUEST_BOOT_S = 120
MIGRATE_S = 180
SETTLE_S = 30
TARGET = "vdb"

CHECKS = [
    "Cluster.GuestsBootWithScratchDisks",
    "Cluster.MigrationWithoutCopyStorageIsRefused",
    "Cluster.CancelledMigrationLeavesTheSource",
    "Cluster.ScratchDiskFollowsLiveMigration",
    "Cluster.ScratchDiskFollowsMigrationBack",
    "Cluster.EncryptedScratchDiskFollowsLiveMigration",
    "Cluster.OfflineMigrationStartsWithFreshScratchDisks",
    "Cluster.SharedPoolHandsTheImageOver",
]
SHARED_POOL = SHARED_DIR + "/pool"


class CheckFailed(Exception):
    pass


def domain_xml(name, marker, fill=0, disk=""):
    """The tiny guest: it writes MARKER (and FILL MiB) to the disk labelled scratch, then reads
    the marker back forever. DISK: a <disk> element of its own, for a disk not made by
    virt-scratch."""
    # The pc machine with ACPI, as tests/e2e/vm_fixture.cpp; no network devices. 128 MiB, as
    # the e2e guests: with 96 MiB a guest ran out of memory at boot now and then (the kernel's
    # OOM report, registers of init's fork, then the panic), its initramfs holding 17 MiB of
    # tools besides the modules.
    return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{boot}/vmlinuz</kernel>
    <initrd>{boot}/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet vs.label=scratch vs.wait=60 vs.marker={marker} vs.fill={fill} vs.follow=1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{console}/{name}.log'/><target port='0'/></serial>
    <memballoon model='none'/>{disk}
  </devices>
</domain>
""".format(name=name, marker=marker, fill=fill, disk=disk, boot=BOOT_DIR, console=CONSOLE_DIR)


class Guest:
    """A domain of the checks and what it was given: its marker and its scratch image's path
    (the same on every host: the pool's layout is <pool>/<domain uuid>/<target>.<format>)."""

    def __init__(self, name, marker, encrypted, lifetime="boot", size="1G", fill=0):
        self.name = name
        self.marker = marker
        self.encrypted = encrypted
        self.lifetime = lifetime
        self.size = size
        self.fill = fill  # MiB the guest writes to its disk besides the marker
        self.image = None
        self.ready = None  # None: booted and reading its marker; else why not

    @property
    def console(self):
        return "%s/%s.log" % (CONSOLE_DIR, self.name)

    @property
    def domain_dir(self):
        return os.path.dirname(self.image)


class Checks:
    def __init__(self, a, b, cli, results, run_id, log):
        self.a, self.b, self.cli, self.log = a, b, cli, log
        self.results = results
        self.run_id = run_id
        self.recorded = set()
        self.lock = threading.Lock()

    # --- recording
    def record(self, name, ok, text=""):
        with self.lock:
            self.recorded.add(name)
            line = ("PASS " + name + (": " + text if text else "")) if ok else \
                   ("FAIL %s: %s" % (name, text))
            line = line.replace("\n", " | ")
            with open(self.results, "a") as f:
                f.write(line + "\n")
            self.log("=== " + line)
            print(line, flush=True)

    def check(self, name, body):
        try:
            self.record(name, True, body() or "")
        except CheckFailed as e:
            self.record(name, False, str(e))
        except Exception as e:  # a harness error must fail its check, not the run
            self.record(name, False, "harness error: %r" % e)

    def fail_unrecorded(self, why):
        for name in CHECKS:
            if name not in self.recorded:
                self.record(name, False, why)

    # --- what a host shows
    def console_text(self, host, guest):
        try:
            with open(host.path(guest.console), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def reads(self, host, guest):
        """The marker reads in GUEST's console file on HOST: (good, failed) line counts."""
        text = self.console_text(host, guest)
        good = len(re.findall(r"^VS-READ %s\r?$" % re.escape(guest.marker), text, re.M))
        return good, text.count("VS-READ-FAILED")

    def wait_reads(self, host, guest, more_than, timeout=SETTLE_S):
        """Waits until GUEST's console on HOST has two reads of the marker past MORE_THAN."""
        wait_until(lambda: self.reads(host, guest)[0] >= more_than + 2, timeout)
        good, failed = self.reads(host, guest)
        if good < more_than + 2:
            tail = self.console_text(host, guest)[-400:]
            raise CheckFailed("%s's console on %s has %d reads of %s (wanted %d) within %d s; "
                              "it ends: %s" % (guest.name, host.name, good, guest.marker,
                                               more_than + 2, timeout, tail))
        if failed:
            raise CheckFailed("%s's console on %s has %d VS-READ-FAILED lines" %
                              (guest.name, host.name, failed))
        return good

    def pool_files(self, host, guest):
        """What HOST's pool holds for GUEST's domain: every file in its directory."""
        try:
            return sorted(os.listdir(host.path(guest.domain_dir)))
        except FileNotFoundError:
            return []

    def has_image(self, host, guest):
        return os.path.exists(host.path(guest.image))

    def state(self, host, guest):
        r = host.virsh("domstate", guest.name, timeout=30, quiet=True)
        return r.stdout.strip() if r.returncode == 0 else "absent (%s)" % r.stderr.strip()

    def listing(self, host):
        r = host.scratch(self.cli, "list")
        return (r.stdout + r.stderr).strip() or "(empty)"

    def expect_state(self, host, guest, want):
        got = wait_until(lambda: self.state(host, guest) == want, SETTLE_S)
        if not got:
            raise CheckFailed("%s on %s is %s, not %s" % (guest.name, host.name,
                                                           self.state(host, guest), want))

    def expect_absent(self, host, guest):
        if not wait_until(lambda: self.state(host, guest).startswith("absent"), SETTLE_S):
            raise CheckFailed("%s is still known to %s's libvirt: %s" % (
                guest.name, host.name, self.state(host, guest)))

    def expect_image(self, host, guest):
        if not self.has_image(host, guest):
            raise CheckFailed("%s's pool has no %s (it holds %s; virt-scratch list: %s)" % (
                host.name, guest.image, self.pool_files(host, guest), self.listing(host)))

    def expect_no_image(self, host, guest, why):
        if wait_until(lambda: not self.pool_files(host, guest), SETTLE_S):
            return
        raise CheckFailed("%s: %s's pool still holds %s/%s after %d s (virt-scratch list: %s)" % (
            why, host.name, guest.domain_dir, self.pool_files(host, guest), SETTLE_S,
            self.listing(host)))

    # --- acting
    def migrate(self, src, dst, guest, copy_storage=True, extra=()):
        argv = ["migrate", "--live", "--persistent", "--undefinesource"]
        if copy_storage:
            argv.append("--copy-storage-all")
        # No port: the destination takes one from its migration_port range (as for the NBD
        # server of the storage copy), so the two never ask for the same.
        argv += list(extra) + [guest.name, dst.uri, "--migrateuri", "tcp://127.0.0.1",
                               "--listen-address", "127.0.0.1"]
        return src.virsh(*argv, timeout=MIGRATE_S)

    def migrate_ok(self, src, dst, guest):
        r = self.migrate(src, dst, guest)
        if r.returncode != 0:
            raise CheckFailed("virsh migrate %s from %s to %s failed: %s" % (
                guest.name, src.name, dst.name, (r.stderr or r.stdout).strip()))

    def after_move(self, src, dst, guest, before=0):
        """What must hold once GUEST has moved from SRC to DST."""
        self.expect_state(dst, guest, "running")
        reads = self.wait_reads(dst, guest, before)
        self.expect_image(dst, guest)
        self.expect_absent(src, guest)
        self.expect_no_image(src, guest, "the domain left %s" % src.name)
        return reads

    def destroy_releases(self, host, guest):
        r = host.virsh("destroy", guest.name, timeout=60)
        if r.returncode != 0:
            raise CheckFailed("virsh destroy on %s failed: %s" % (host.name, r.stderr.strip()))
        self.expect_no_image(host, guest, "destroyed on %s" % host.name)

    # --- setting up
    def define_and_start(self, guest):
        a = self.a
        xml = os.path.join(os.path.dirname(self.results), guest.name + ".xml")
        with open(xml, "w") as f:
            f.write(domain_xml(guest.name, guest.marker, guest.fill))
        r = a.virsh("define", xml)
        if r.returncode != 0:
            return "virsh define on A failed: " + r.stderr.strip()
        enable = ["enable", guest.name, "--size", guest.size, "--format", "qcow2", "--filesystem",
                  "ext4", "--label", "scratch", "--lifetime", guest.lifetime, "--attach", "boot",
                  "--connect", a.uri]
        if guest.encrypted:
            enable.append("--encrypt")
        r = a.scratch(self.cli, *enable)
        if r.returncode != 0:
            return "virt-scratch enable on A failed: " + (r.stderr or r.stdout).strip()
        r = a.virsh("dumpxml", "--inactive", guest.name)
        try:
            root = ET.fromstring(r.stdout)
            for disk in root.iter("disk"):
                target = disk.find("target")
                if target is not None and target.get("dev") == TARGET:
                    guest.image = disk.find("source").get("file")
        except ET.ParseError as e:
            return "virsh dumpxml on A gave no XML (%s): %s" % (e, r.stderr.strip())
        if not guest.image:
            return "virt-scratch enable wrote no <disk> with target %s" % TARGET
        r = a.virsh("start", guest.name, timeout=120)
        if r.returncode != 0:
            return "virsh start on A failed: " + (r.stderr or r.stdout).strip()
        return None

    def boot_guests(self, guests):
        for guest in guests:
            guest.ready = self.define_and_start(guest)
        for guest in guests:
            if guest.ready is None:
                wait_until(lambda: self.reads(self.a, guest)[0] >= 1, GUEST_BOOT_S)
                if self.reads(self.a, guest)[0] < 1:
                    guest.ready = "%s never read its marker on A within %d s; console: %s" % (
                        guest.name, GUEST_BOOT_S, self.console_text(self.a, guest)[-400:])
                elif not self.has_image(self.a, guest):
                    guest.ready = "%s runs on A, but A's pool has no %s" % (guest.name,
                                                                            guest.image)

        def all_ready():
            bad = ["%s: %s" % (g.name, g.ready) for g in guests if g.ready]
            if bad:
                raise CheckFailed("; ".join(bad))
            return "%s each read their marker from a scratch disk on A" % ", ".join(
                g.name for g in guests)
        self.check("Cluster.GuestsBootWithScratchDisks", all_ready)

    def need(self, guest):
        if guest.ready:
            raise CheckFailed("%s did not boot on A: %s" % (guest.name, guest.ready))

    # --- the checks
    def refused_without_copy_storage(self, guest):
        self.need(guest)
        a, b = self.a, self.b
        r = self.migrate(a, b, guest, copy_storage=False)
        said = (r.stderr or r.stdout).strip()
        if r.returncode == 0:
            raise CheckFailed("virsh migrate without --copy-storage-all succeeded")
        self.expect_state(a, guest, "running")
        self.expect_image(a, guest)
        self.expect_absent(b, guest)
        self.expect_no_image(b, guest, "after the refused migration")
        before = self.reads(a, guest)[0]
        self.wait_reads(a, guest, before)
        return "libvirt said: " + said

    def abort_migration(self, src, dst, guest, copy_storage=True, extra=()):
        """Starts migrating GUEST from SRC to DST and aborts it midway; what libvirt said and how
        far it had come."""
        out = {}
        # 1 MiB/s: the storage copy and 128 MiB of memory take minutes, so the job is surely
        # still running when the abort comes.
        mover = threading.Thread(target=lambda: out.update(
            r=self.migrate(src, dst, guest, copy_storage, list(extra) + ["--bandwidth", "1"])))
        mover.start()
        try:
            def running():
                info = src.virsh("domjobinfo", guest.name, timeout=30, quiet=True).stdout
                # The destination's QEMU waits paused for the incoming state: it is prepared.
                return "Unbounded" in info and self.state(dst, guest) == "paused"
            if not wait_until(running, 60, interval=0.2):
                raise CheckFailed("the migration was not seen running (%s's job: %s; on %s: %s)" % (
                    src.name, src.virsh("domjobinfo", guest.name, quiet=True).stdout.strip(),
                    dst.name, self.state(dst, guest)))
            progress = src.virsh("domjobinfo", guest.name).stdout
            r = src.virsh("domjobabort", guest.name)
            if r.returncode != 0:
                raise CheckFailed("virsh domjobabort on %s failed: %s" % (src.name, r.stderr.strip()))
        finally:
            mover.join(MIGRATE_S + 30)
        r = out.get("r")
        if r is None:
            raise CheckFailed("virsh migrate did not return after the abort")
        if r.returncode == 0:
            raise CheckFailed("the migration succeeded despite domjobabort")
        processed = re.search(r"(Data processed|File processed|Memory processed):\s*(.*)",
                              progress)
        return (r.stderr or r.stdout).strip(), (processed.group(0) if processed else
                                                "an early stage")

    def cancelled_midway(self, guest):
        self.need(guest)
        a, b = self.a, self.b
        said, processed = self.abort_migration(a, b, guest)
        self.expect_state(a, guest, "running")
        self.expect_image(a, guest)
        self.expect_absent(b, guest)
        self.expect_no_image(b, guest, "after the cancelled migration")
        before = self.reads(a, guest)[0]
        self.wait_reads(a, guest, before)
        return "libvirt said: %s (aborted at %s)" % (said, processed)

    def follows(self, guest):
        self.need(guest)
        a, b = self.a, self.b
        self.migrate_ok(a, b, guest)
        reads = self.after_move(a, b, guest)
        persistent = b.virsh("dominfo", guest.name).stdout
        if not re.search(r"Persistent:\s*yes", persistent):
            raise CheckFailed("%s is not persistent on B after --persistent" % guest.name)
        self.destroy_releases(b, guest)
        b.virsh("undefine", guest.name)
        return "%d reads of the marker on B" % reads

    def follows_back(self, guest):
        self.need(guest)
        a, b = self.a, self.b
        self.migrate_ok(a, b, guest)
        self.after_move(a, b, guest)
        # A's console file is what the guest printed before it left; the new lines must come
        # from the QEMU that takes it in. QEMU on A is gone, so nothing holds the file.
        os.remove(a.path(guest.console))
        self.migrate_ok(b, a, guest)
        reads = self.after_move(b, a, guest)
        # Its lifetime is the domain's: it outlives the stop and goes with the definition.
        r = a.virsh("destroy", guest.name, timeout=60)
        if r.returncode != 0:
            raise CheckFailed("virsh destroy on A failed: " + r.stderr.strip())
        self.expect_state(a, guest, "shut off")
        self.expect_image(a, guest)
        a.virsh("undefine", guest.name)
        self.expect_no_image(a, guest, "undefined on A")
        return "%d reads of the marker on A after the way back" % reads

    def encrypted_follows(self, guest):
        self.need(guest)
        a, b = self.a, self.b
        self.migrate_ok(a, b, guest)
        reads = self.after_move(a, b, guest)
        # qemu-img reads the header only; -U: QEMU on B holds the image's lock.
        r = b.run(["qemu-img", "info", "-U", "--output=json", b.path(guest.image)])
        try:
            info = json.loads(r.stdout)
        except ValueError:
            raise CheckFailed("qemu-img info on B's image failed: " + r.stderr.strip())
        if not info.get("encrypted"):
            raise CheckFailed("B's image is not encrypted: " + r.stdout.strip())
        self.destroy_releases(b, guest)
        b.virsh("undefine", guest.name)
        return "%d reads of the marker on B from a LUKS qcow2 image" % reads

    def offline_fresh(self, guest):
        """An offline migration moves the definition only: the destination's first start must
        make the disk afresh (a filesystem the guest mounts), not use the empty image the hook's
        `migrate begin` made for it."""
        a, b = self.a, self.b
        why = self.define_and_start(guest)
        if why:
            raise CheckFailed(why)
        self.wait_reads(a, guest, -1, timeout=GUEST_BOOT_S)
        r = a.virsh("destroy", guest.name)
        if r.returncode != 0:
            raise CheckFailed("virsh destroy on A failed: " + r.stderr.strip())
        self.expect_state(a, guest, "shut off")
        # Lifetime boot: released at the stop. (libvirt sends the source no event when an
        # offline migration undefines a domain there: images of lifetime domain would stay
        # until the daemon next reconciles; README says so.)
        self.expect_no_image(a, guest, "destroyed on A")
        r = a.virsh("migrate", "--offline", "--persistent", "--undefinesource", guest.name,
                    b.uri, timeout=MIGRATE_S)
        if r.returncode != 0:
            raise CheckFailed("virsh migrate --offline failed: " + (r.stderr or r.stdout).strip())
        self.expect_absent(a, guest)
        self.expect_state(b, guest, "shut off")
        self.expect_no_image(b, guest, "defined on B by an offline migration, never started")
        r = b.virsh("start", guest.name, timeout=120)
        if r.returncode != 0:
            raise CheckFailed("virsh start on B failed: " + (r.stderr or r.stdout).strip())
        self.wait_reads(b, guest, -1, timeout=GUEST_BOOT_S)
        self.expect_image(b, guest)
        b.virsh("destroy", guest.name)
        b.virsh("undefine", guest.name)
        self.expect_no_image(b, guest, "undefined on B")
        return "the first start on B made a disk the guest mounts and writes"

    # --- a pool both hosts mount
    def share_pool(self):
        """Turns both hosts' virt-scratchd to the pool in the directory they both mount, with
        [pool] shared = yes (a drop-in each), and restarts them."""
        for host in (self.a, self.b):
            nspawn_host.write(host.path("/etc/virt-scratch/virt-scratchd.conf.d/60-shared.conf"),
                              "[pool]\npath = %s\nshared = yes\n" % SHARED_POOL)
            # As for a pool on NFS outside the state directory: the unit's file system is
            # read-only elsewhere.
            nspawn_host.write(
                host.path("/etc/systemd/system/virt-scratchd.service.d/60-shared.conf"),
                "[Service]\nReadWritePaths=%s\n" % SHARED_DIR)
            for argv in (["systemctl", "daemon-reload"], ["systemctl", "restart", "virt-scratchd"]):
                r = host.inside(*argv, timeout=60)
                if r.returncode != 0:
                    raise CheckFailed("%s on %s failed: %s" % (" ".join(argv), host.name,
                                                              (r.stderr or r.stdout).strip()))

    def owner(self, guest):
        """The host the shared pool's record of GUEST's disk names, and whether an adoption
        marker is there."""
        try:
            with open(self.a.path(os.path.join(guest.domain_dir, TARGET + ".record"))) as f:
                found = re.search(r"^host=(.*)$", f.read(), re.M)
        except OSError:
            found = None
        marker = os.path.exists(self.a.path(os.path.join(guest.domain_dir, TARGET + ".adopt")))
        return (found.group(1) if found else None), marker

    def expect_owner(self, guest, host):
        if not wait_until(lambda: self.owner(guest) == (host.hostname, False), SETTLE_S):
            raise CheckFailed("the record of %s's disk names %r (adoption marker: %s), not %s; "
                              "A lists: %s; B lists: %s" % (
                                  guest.name, self.owner(guest)[0], self.owner(guest)[1],
                                  host.hostname, self.listing(self.a), self.listing(self.b)))
        uuid = os.path.basename(guest.domain_dir)
        for other in (self.a, self.b):
            listed = uuid in self.listing(other)
            if listed != (other is host):
                raise CheckFailed("%s %s %s's disk: %s" % (
                    other.name, "lists" if listed else "does not list", guest.name,
                    self.listing(other)))

    def shared_move(self, src, dst, guest, inode):
        r = self.migrate(src, dst, guest, copy_storage=False, extra=["--unsafe"])
        if r.returncode != 0:
            raise CheckFailed("virsh migrate --unsafe %s from %s to %s failed: %s" % (
                guest.name, src.name, dst.name, (r.stderr or r.stdout).strip()))
        self.expect_state(dst, guest, "running")
        reads = self.wait_reads(dst, guest, 0)
        self.expect_absent(src, guest)
        self.expect_owner(guest, dst)
        if os.stat(dst.path(guest.image)).st_ino != inode:
            raise CheckFailed("%s's disk is another file after the move" % guest.name)
        return reads

    def shared_pool(self, guest):
        """Both hosts mount one pool ([pool] shared = yes): the migration copies nothing, the
        destination adopts the image the source lets go, a cancelled migration leaves it the
        source's, and the stop on the last host deletes it."""
        a, b = self.a, self.b
        self.share_pool()
        why = self.define_and_start(guest)
        if why:
            raise CheckFailed(why)
        if not guest.image.startswith(SHARED_POOL + "/"):
            raise CheckFailed("the disk is %s, not in the shared pool %s" % (guest.image,
                                                                            SHARED_POOL))
        self.wait_reads(a, guest, -1, timeout=GUEST_BOOT_S)
        inode = os.stat(a.path(guest.image)).st_ino
        self.expect_owner(guest, a)
        said, processed = self.abort_migration(a, b, guest, copy_storage=False,
                                               extra=["--unsafe"])
        self.expect_state(a, guest, "running")
        self.expect_absent(b, guest)
        self.expect_owner(guest, a)
        self.wait_reads(a, guest, self.reads(a, guest)[0])
        reads_b = self.shared_move(a, b, guest, inode)
        # A's console file is what the guest printed before it left (see follows_back).
        os.remove(a.path(guest.console))
        reads_a = self.shared_move(b, a, guest, inode)
        # The shared directory as A sees it is B's too: the stop on A deleted it for both.
        self.destroy_releases(a, guest)
        a.virsh("undefine", guest.name)
        return ("no copy (one inode throughout); %d reads on B, %d back on A; a cancelled "
                "migration (%s: %s) left it A's" % (reads_b, reads_a, processed, said))

    def run_all(self):
        plain = Guest("cluster-plain", "vs-%s-plain" % self.run_id, False)
        # lifetime domain: the hook's release end keeps it, so only the source's watcher (the
        # domain stopped by migration, or undefined by --undefinesource) releases it.
        back = Guest("cluster-back", "vs-%s-back" % self.run_id, False, lifetime="domain")
        luks = Guest("cluster-luks", "vs-%s-luks" % self.run_id, True)
        self.boot_guests([plain, back, luks])
        self.check("Cluster.MigrationWithoutCopyStorageIsRefused",
                   lambda: self.refused_without_copy_storage(plain))
        self.check("Cluster.CancelledMigrationLeavesTheSource",
                   lambda: self.cancelled_midway(plain))
        self.check("Cluster.ScratchDiskFollowsLiveMigration", lambda: self.follows(plain))
        self.check("Cluster.ScratchDiskFollowsMigrationBack", lambda: self.follows_back(back))
        self.check("Cluster.EncryptedScratchDiskFollowsLiveMigration",
                   lambda: self.encrypted_follows(luks))
        offline = Guest("cluster-offline", "vs-%s-offline" % self.run_id, False)
        self.check("Cluster.OfflineMigrationStartsWithFreshScratchDisks",
                   lambda: self.offline_fresh(offline))
        # Last: it turns both daemons to the shared pool.
        shared = Guest("cluster-shared", "vs-%s-shared" % self.run_id, False)
        self.check("Cluster.SharedPoolHandsTheImageOver", lambda: self.shared_pool(shared))

    def clean_up(self):
        """Destroys whatever guests are left, so that the hosts power off at once."""
        for host in (self.a, self.b):
            if not host.alive():
                continue
            r = host.virsh("list", "--name", timeout=30)
            for name in r.stdout.split():
                host.virsh("destroy", name, timeout=60)
