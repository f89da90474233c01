"""bench/allocate's side-by-side of the authorization: warm Allocates through the bus from a
client running as root (polkit is not asked) and from one running as a member of group libvirt
(a real polkitd authorizes it by the project's rules), in alternating rounds on the same daemon.

polkitd runs on the benchmark's private bus in a mount namespace of its own, where the project's
polkit/ files stand in for the machine's actions and rules; the machine's polkit setup is not
read or changed. Run as a script, this file is the client: it prints the seconds each Allocate
took, one per line.
"""
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import time

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
MEMBER = "vs-polkit-member"
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def available():
    return os.access(POLKITD, os.X_OK)


def ensure_member():
    """groupadd/useradd exit 9 when the name exists already."""
    for argv in (["groupadd", "-r", "libvirt"],
                 ["useradd", "-r", "-M", "-N", "-g", "nogroup", "-G", "libvirt", "-s",
                  "/usr/sbin/nologin", MEMBER]):
        code = subprocess.run(argv, stderr=subprocess.DEVNULL).returncode
        if code not in (0, 9):
            sys.exit(f"{argv[0]} {argv[-1]} failed with exit status {code}")


def start_polkit(work, address, root):
    """polkitd with the project's actions and rules; returns the process once it owns its name."""
    dirs = {name: os.path.join(work, "polkit", name) for name in ("actions", "rules", "etc")}
    for d in dirs.values():
        os.makedirs(d, mode=0o755)
        os.chmod(d, 0o755)  # polkitd reads them as user polkitd
    os.chmod(os.path.join(work, "polkit"), 0o755)
    shutil.copy(os.path.join(root, "polkit", "org.virtscratch.scratch1.policy"), dirs["actions"])
    shutil.copy(os.path.join(root, "polkit", "60-org.virtscratch.scratch1.rules"), dirs["rules"])
    binds = [(dirs["actions"], "/usr/share/polkit-1/actions"),
             (dirs["rules"], "/usr/share/polkit-1/rules.d"),
             (dirs["etc"], "/etc/polkit-1/rules.d")]

    def private_mounts():
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.unshare(CLONE_NEWNS) == 0 and \
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0
        for source, target in binds:
            ok = ok and libc.mount(source.encode(), target.encode(), None, MS_BIND, None) == 0
        if not ok:
            os._exit(126)

    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
    log = open(os.path.join(work, "polkitd.log"), "w")
    # --no-debug, as polkit.service starts it.
    polkitd = subprocess.Popen([POLKITD, "--no-debug"], env=env, stdout=log, stderr=log,
                               preexec_fn=private_mounts)
    import dbus
    driver = dbus.bus.BusConnection(address).get_object(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", introspect=False)
    deadline = time.monotonic() + 30
    while not driver.NameHasOwner(POLKIT_NAME, dbus_interface="org.freedesktop.DBus"):
        if polkitd.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"polkitd did not start; see {work}/polkitd.log")
        time.sleep(0.01)
    return polkitd


def client_times(script, address, first, runs, user=None):
    """Runs this file as the client (as `user` with its groups, or as root)."""
    argv = ["/usr/bin/python3", script, address, str(first), str(runs)]
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--init-groups"] + argv
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return [float(line) for line in out.split()]


def compare(address, rounds, runs):
    """(root times, member times, polkit alone), `rounds` alternating rounds of `runs` each.
    Polkit alone: the member asks polkitd about itself, without the daemon."""
    script = os.path.abspath(__file__)
    root, member, alone = [], [], []
    for r in range(rounds):
        root += client_times(script, address, 200000 + 2 * r * runs, runs)
        member += client_times(script, address, 200000 + (2 * r + 1) * runs, runs, MEMBER)
        alone += client_times(script, address, -1, runs, MEMBER)
    return root, member, alone


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def rows(root, member, alone):
    p50r, p50m = statistics.median(root), statistics.median(member)
    return [["root (polkit not asked)", str(len(root)), ms(p50r), "-"],
            [f"{MEMBER} (group libvirt, polkitd authorizes)", str(len(member)), ms(p50m),
             f"{ms(p50m - p50r)} ({p50m / p50r:.2f}x)"],
            ["polkit alone: CheckAuthorization of the member about itself, no daemon",
             str(len(alone)), ms(statistics.median(alone)), "-"]]


def polkit_alone(conn, runs):
    """What one polkit check costs by itself: the caller asks about its own bus name."""
    import dbus
    authority = dbus.Interface(
        conn.get_object(POLKIT_NAME, "/org/freedesktop/PolicyKit1/Authority", introspect=False),
        "org.freedesktop.PolicyKit1.Authority")
    subject = dbus.Struct(("system-bus-name",
                           {"name": dbus.String(conn.get_unique_name(), variant_level=1)}),
                          signature="sa{sv}")
    for _ in range(runs):
        start = time.perf_counter()
        authority.CheckAuthorization(subject, "org.virtscratch.scratch1.allocate",
                                     dbus.Dictionary({}, signature="ss"), dbus.UInt32(0), "")
        print(time.perf_counter() - start)


def client(address, first, runs):
    import dbus
    conn = dbus.bus.BusConnection(address)
    if first < 0:
        return polkit_alone(conn, runs)
    manager = dbus.Interface(conn.get_object("org.virtscratch.Scratch1",
                                             "/org/virtscratch/Scratch1", introspect=False),
                             "org.virtscratch.Scratch1.Manager")
    spec = dbus.Dictionary({"size": dbus.UInt64(2**30), "format": "qcow2",
                            "filesystem": "ext4", "label": "warm"}, signature="sv")
    for n in range(first, first + runs):
        domain = f"00000000-0000-4000-8000-{n:012d}"
        start = time.perf_counter()
        manager.Allocate(domain, spec, timeout=600)
        print(time.perf_counter() - start)
        manager.ReleaseDomain(domain, dbus.Dictionary({}, signature="sv"))


if __name__ == "__main__":
    client(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
