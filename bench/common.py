"""Shared by the benchmarks: timing commands side by side, medians, peak memory, tables."""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
VIRT_SCRATCH = os.path.join(BUILD, "cli", "virt-scratch")


def ensure_built(*targets):
    """Installs the packages and builds `targets` (default: the virt-scratch command), unless
    bench/run-all has done so already (it sets VIRTSCRATCH_BENCH_BUILT)."""
    if os.environ.get("VIRTSCRATCH_BENCH_BUILT") == "1":
        return
    subprocess.run([os.path.join(ROOT, "scripts", "deps")], check=True)
    if not os.path.exists(os.path.join(BUILD, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", BUILD, "-DVIRTSCRATCH_WERROR=ON"], check=True,
                       stdout=subprocess.DEVNULL)
    # One compile job per core: ninja's default of two more slows whatever else the host runs.
    jobs = str(os.cpu_count() or 2)
    for target in targets or ("virt-scratch",):
        subprocess.run(["cmake", "--build", BUILD, "--parallel", jobs, "--target", target],
                       check=True, stdout=subprocess.DEVNULL)


def workdir():
    """A directory on a real disk (not tmpfs), so that holes and extents behave as in a pool."""
    base = os.environ.get("BENCH_DIR", "/var/tmp")
    return tempfile.mkdtemp(prefix="virt-scratch-bench-", dir=base)


def timed(steps):
    """Runs each argv in `steps` in order; returns (wall seconds, peak RSS in KiB of any step)."""
    peak = 0
    start = time.perf_counter()
    for argv in steps:
        with tempfile.NamedTemporaryFile(mode="r") as rss:
            subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name] + argv,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peak = max(peak, int(rss.read().strip().splitlines()[-1]))
    return time.perf_counter() - start, peak


def median_of(runs, prepare, steps, cleanup):
    """Median wall time and the largest peak RSS over `runs` runs of `steps`."""
    times, peaks = [], []
    for _ in range(runs):
        prepare()
        # Each run starts with nothing left to write back from the one before, so that neither
        # side pays for the other's deletes (this matters on hosts that mount with discard).
        os.sync()
        t, p = timed(steps)
        times.append(t)
        peaks.append(p)
        cleanup()
    return statistics.median(times), max(peaks)


def remove(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)


def machine():
    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", os.environ.get("BENCH_DIR", "/var/tmp")],
                        capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, work files on {fs or '?'}"


def write_json(path, data):
    """The machine-readable result of one benchmark, for bench/run-all."""
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def fmt_ms(seconds):
    # Tenths of a millisecond below 10 ms, where targets of a few milliseconds are judged.
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        # A "|" inside a cell (a shell pipeline) would end the cell.
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(pid, deadline=60):
    """Waits until process `pid` used no CPU time for half a second (a daemon's background work,
    such as refilling spares, done), or `deadline` seconds."""
    end = time.monotonic() + deadline
    last = cpu_ticks(pid)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = cpu_ticks(pid)
        if now == last:
            return
        last = now


def memory_kib(pid):
    """A process's memory in KiB from /proc/PID/smaps_rollup: RSS, PSS (shared pages divided
    among their users), private (clean + dirty: pages no other process maps) and anonymous."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "private": fields["Private_Clean"] + fields["Private_Dirty"],
            "anonymous": fields["Anonymous"]}
