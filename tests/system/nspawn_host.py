"""A Debian 12 host booted with systemd-nspawn: what the system and cluster tiers share.

The root filesystem is made once with mmdebstrap and cached as a tarball keyed by a hash of
rootfs-packages (beside this file), so both tiers unpack the same one. The system tier installs
the Debian package in its booted host (boot_host.py, checks.sh); the cluster tier installs its
build into the root with `cmake --install` (install() below), so that both ways of installing
stay tested. The host is booted with `systemd-nspawn -b` and stopped by SIGTERM to nspawn,
which powers the container's systemd off cleanly.
"""
import hashlib
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("VIRTSCRATCH_ROOTFS_CACHE", "/var/cache/virt-scratch-tests")
SKIP = 77
STOP_TIMEOUT_S = 30


def skip_reason():
    """Why these tiers cannot run here, or None."""
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which(
            "mmdebstrap") is None:
        return "needs root, systemd-nspawn and mmdebstrap (scripts/deps)"
    return None


def packages():
    with open(os.path.join(HERE, "rootfs-packages"), "rb") as f:
        text = f.read()
    names = [l.strip() for l in text.decode().splitlines() if l.strip() and not l.startswith("#")]
    return names, hashlib.sha256(text).hexdigest()[:16]


def rootfs_tarball():
    names, key = packages()
    tarball = os.path.join(CACHE, "rootfs-bookworm-" + key + ".tar")
    if os.path.exists(tarball):
        return tarball
    os.makedirs(CACHE, exist_ok=True)
    # mmdebstrap picks the output format from the name: keep ".tar" at the end.
    partial = tarball[:-len(".tar")] + ".partial.tar"
    print("making the root filesystem with mmdebstrap (cached as %s)" % tarball, flush=True)
    subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "--include=" + ",".join(names),
                    "bookworm", partial], check=True)
    os.rename(partial, tarball)
    return tarball


def unpack(tarball, root):
    os.makedirs(root, exist_ok=True)
    subprocess.run(["tar", "-xf", tarball, "-C", root, "--numeric-owner"], check=True)


def install(root, build):
    """`cmake --install` of BUILD into ROOT (a build configured for /usr and /etc)."""
    subprocess.run(["cmake", "--install", build], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, DESTDIR=root))


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def start(root, log, extra=()):
    """Boots ROOT in the background, its console going to LOG; returns the nspawn process.

    --register=no and --keep-unit: the machine has no systemd-machined to register with.
    --console=interactive: with a pipe systemd prints nothing.
    """
    with open(log, "wb") as out:
        return subprocess.Popen(["systemd-nspawn", "-q", "-D", root, "-b", "--console=interactive",
                                 "--register=no", "--keep-unit"] + list(extra),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def stop(nspawn, timeout=STOP_TIMEOUT_S):
    """Powers the host off (SIGTERM to nspawn stops the container's systemd); kills it if that
    takes longer than TIMEOUT. True when it stopped cleanly."""
    if nspawn.poll() is not None:
        return True
    nspawn.terminate()
    try:
        nspawn.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        nspawn.kill()
        nspawn.wait()
        return False


def init_pid(nspawn):
    """The container's PID 1 (systemd), a child of nspawn, or None while there is none yet.
    /proc/PID/root is the container's root as it sees it, with its own /run (a tmpfs nspawn
    mounts, not the directory's run/) and, with --overlay, its merged root."""
    try:
        with open("/proc/%d/task/%d/children" % (nspawn.pid, nspawn.pid)) as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None
