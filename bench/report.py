"""bench/run-all's document: the machine, the combined table and a section per benchmark."""
import datetime
import os
import platform
import re
import subprocess

import common
import report_text

MIB = 1 << 20


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    for line in (r.stdout + "\n" + r.stderr).splitlines():
        if line.strip():
            return line.strip()
    return "unknown"


def build_type():
    try:
        with open(os.path.join(common.BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "RelWithDebInfo (the project's default)"
    except OSError:
        pass
    return "unknown"


def machine(started, peak_load, quick=False, dry_run=False):
    """What the benchmarks ran on, as a dict of strings (stored with the results)."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    bench_dir = os.environ.get("BENCH_DIR", "/var/tmp")
    fs = " ".join(first_line(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "-T", bench_dir]).split())
    os_name = "unknown"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            os_name = m.group(1) if m else os_name
    commit = first_line(["git", "-C", common.ROOT, "rev-parse", "--short", "HEAD"])
    # Reading the status must not write git's index (another process may be using it).
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", common.ROOT, "status",
                            "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    ended = datetime.datetime.now(datetime.timezone.utc)
    with open("/proc/loadavg") as f:
        load_end = float(f.read().split()[0])
    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "ram": f"{ram:.0f} GiB",
        "kernel": platform.release(), "os": os_name,
        "bench_dir": f"{bench_dir} ({fs})",
        "qemu-img": first_line(["qemu-img", "--version"]),
        "e2fsprogs": first_line(["mke2fs", "-V"]),
        "systemd-repart": first_line(["systemd-repart", "--version"]),
        "gzip": first_line(["gzip", "--version"]),
        "libvirtd": first_line(["libvirtd", "--version"]),
        "build": f"{build_type()}, commit {commit}{' with local changes' if dirty else ''}",
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": f"{max(1, round((ended - started).total_seconds() / 60))}",
        "peak_load": f"{peak_load:.1f}", "end_load": f"{load_end:.1f}",
        "quick": quick, "dry_run": dry_run,
    }


def ms(seconds):
    return common.fmt_ms(seconds)


def mib(n):
    return f"{n / MIB:.1f} MiB"


def verdict(ok):
    return "yes" if ok else "**no**"


def times_row(op, ours, peer, tool, limit=None):
    """A row whose ratio is virt-scratch's time over the peer's (below 1: ours is faster)."""
    ratio = ours / peer
    return [op, ms(ours), ms(peer), tool, f"{ratio:.2f}x the time",
            f"at most {limit}x" if limit else "none set",
            verdict(ratio <= limit) if limit else "-"]


def speedup_row(op, ours, peer, tool, least):
    """A row whose ratio is the peer's time over virt-scratch's."""
    ratio = peer / ours
    return [op, ms(ours), ms(peer), tool, f"{ratio:.0f}x faster", f"at least {least}x faster",
            verdict(ratio >= least)]


def create_rows(d):
    limits = {"1T": 0.25, "100G": 0.5}
    rows = []
    for c in d["cases"]:
        if c["case"] == "qcow2":
            rows.append(times_row(f"create ext4 qcow2 {c['size']}", c["ours_s"], c["peer_s"],
                                  "qemu-img create + mkfs.ext4 + qemu-img convert",
                                  limits.get(c["size"])))
        else:
            rows.append(times_row(f"create GPT + ext4 raw {c['size']}", c["ours_s"],
                                  c["peer_s"], "systemd-repart --empty=create", 1.0))
    rows.append(peak_memory_row("create", d["cases"], "ours_rss_kib", "the same peers"))
    return rows


def peak_memory_row(what, cases, ours_key, peer):
    """The largest peak RSS of ours (cases[ours_key]) and of the peer, at most 32 MiB for ours."""
    ours = max(c[ours_key] for c in cases) * 1024
    theirs = max(c["peer_rss_kib"] for c in cases) * 1024
    return [f"{what}, peak memory of any process", mib(ours), mib(theirs), peer,
            f"{ours / theirs:.2f}x the memory", "at most 32 MiB", verdict(ours <= 32 * MIB)]


def encrypt_rows(d):
    rows = []
    # The targets are the qcow2's; raw LUKS has no peer (see bench/encrypt) and no target.
    qcow2 = [c for c in d["cases"] if c.get("format", "qcow2") == "qcow2"]
    for c in qcow2:
        rows.append(times_row(f"create ext4 qcow2 {c['size']}, LUKS-encrypted, over unencrypted",
                              c["encrypted_s"], c["plain_s"],
                              "virt-scratch create, unencrypted", 2))
        rows.append(times_row(f"create ext4 qcow2 {c['size']}, LUKS-encrypted", c["encrypted_s"],
                              c["peer_s"], "qemu-img create + mkfs.ext4 + qemu-img convert "
                              f"(LUKS, iter-time {c['peer_iter_time_ms']} ms)", 0.25))
    rows.append(peak_memory_row("create LUKS-encrypted", qcow2, "encrypted_rss_kib",
                                "the same peer"))
    return rows


def transport_rows(d):
    e, i = d["export"], d["import"]
    what = f"({d['size']} image, {d['data']} of data)"
    rows = [speedup_row(f"gzip export {what}", e["ours_s"], e["peer_s"], "gzip -1 -c", 30)]
    ratio = e["ours_bytes"] / e["peer_bytes"]
    rows.append(["gzip export, output size", mib(e["ours_bytes"]), mib(e["peer_bytes"]),
                 "gzip -1 -c", f"{ratio:.3f}x the size", "at most 1.05x", verdict(ratio <= 1.05)])
    rows.append(speedup_row(f"gzip import {what}", i["ours_s"], i["peer_s"],
                            "gunzip -c | cp --sparse=always", 20))
    ratio = i["ours_allocated"] / d["data_bytes"]
    rows.append(["gzip import, allocated bytes", mib(i["ours_allocated"]),
                 mib(i["peer_allocated"]), "gunzip -c | cp --sparse=always",
                 f"{ratio:.2f}x the data", "at most 1.1x the data, byte-identical",
                 verdict(ratio <= 1.1 and i["identical_from_gzip"])])
    return rows


def memory_rows(d):
    rows = []
    for op in ("export", "info"):
        kib = d[op]["ours_rss_kib"]
        rows.append([f"{op} of {d['extents']} 4 KiB extents, peak memory", mib(kib * 1024),
                     mib(d["peer"]["rss_kib"] * 1024), d["peer"]["tool"], "-",
                     "at most 64 MiB", verdict(kib <= 64 * 1024)])
    return rows


def overlay_rows(d):
    rows = []
    for c in d["cases"]:
        peer = c["peer"]["seconds"]
        base = f", base by {c['base']}" if "base" in c else ""
        rows.append(times_row(f"disk from a cached base {c['size']}{base}: overlay, new UUID "
                              "(clone --backing)", c["backing"]["seconds"], peer,
                              "qemu-img create -f qcow2 -b (shares the base's UUID)"))
        rows.append(times_row(f"disk from a cached base {c['size']}{base}: independent copy, "
                              "new UUID (clone)", c["copy"]["seconds"], peer,
                              "qemu-img create -f qcow2 -b (shares the base's UUID)"))
    return rows


def allocate_rows(d, overlay):
    peers = {}
    if overlay:
        # The peer's overlay costs the same whichever tool made the base: the first per size.
        peers = {}
        for c in overlay["cases"]:
            peers.setdefault(c["size"], c["peer"]["seconds"])
    warm = {c["size"]: c["p50_s"] for c in d["cases"] if c["kind"] == "warm"}
    rows = []
    for c in d["cases"]:
        if c["kind"] == "encrypted":  # bench/allocate --encryption
            at_target = c["size"].upper() == d["encryption"]["target_size"]
            limit = d["encryption"]["target_p50_s"]
            rows.append([f"encrypted (luks) Allocate through the bus {c['size']}, p50, one "
                         "connection (a spare encrypted ahead)", ms(c["p50_s"]),
                         ms(warm[c["size"]]), "warm unencrypted Allocate, the same run",
                         f"{c['p50_s'] / warm[c['size']]:.2f}x the time",
                         f"at most {limit * 1000:.0f} ms" if at_target else "none set",
                         verdict(c["p50_s"] <= limit) if at_target else "-"])
            continue
        if c["kind"] != "warm":
            continue
        peer = peers.get(c["size"])
        limit = 0.005 if c["size"] == "1T" else 0.010
        rows.append([f"warm Allocate through the bus {c['size']}, p50 (a new UUID, ready to "
                     "attach)", ms(c["p50_s"]), ms(peer) if peer else "-",
                     "qemu-img create -f qcow2 -b (bench/overlay)" if peer else "-",
                     f"{c['p50_s'] / peer:.2f}x the time" if peer else "-",
                     f"at most {limit * 1000:.0f} ms", verdict(c["p50_s"] <= limit)])
    # Results written before the storm ran at every size hold one "storm".
    for s in d.get("storms") or [d["storm"]]:
        rows.append([f"{s['clients']} concurrent Allocates ({s['size']}, warm), last answer",
                     ms(s["last_s"]), "-", "-", "-", "within 1 s", verdict(s["last_s"] <= 1.0)])
    auth = d.get("authorization")
    if auth:
        added = auth["member_p50_s"] - auth["root_p50_s"]
        rows.append(["warm Allocate 1G p50, polkit-authorized member of libvirt",
                     ms(auth["member_p50_s"]), ms(auth["root_p50_s"]), "the same, as root",
                     f"{added * 1000:+.1f} ms", "adds at most 3 ms", verdict(added <= 0.003)])
    if "idle_memory_kib" in d:
        rows.append(idle_memory_row(d["idle_memory_kib"]))
    else:
        rss = max(d["idle_rss_kib"].values()) * 1024
        rows.append(["virt-scratchd idle RSS (largest of after start, after the runs)", mib(rss),
                     "-", "-", "-", "at most 16 MiB", verdict(rss <= 16 * MIB)])
    return rows


def idle_memory_row(memory):
    """The largest idle anonymous memory of the samples, with its RSS and PSS beside it."""
    m = max(memory.values(), key=lambda v: v["anonymous"])
    return ["virt-scratchd idle anonymous memory (largest of after start, after the runs)",
            f"{mib(m['anonymous'] * 1024)} (RSS {mib(m['rss'] * 1024)}, PSS "
            f"{mib(m['pss'] * 1024)})", "-", "-", "-", "at most 8 MiB",
            verdict(m["anonymous"] <= 8 * 1024)]


def scale_rows(d):
    n = d["images"]
    full, empty = d["warm_p50_s"]["full"], d["warm_p50_s"]["empty"]
    m = d["memory_kib"]["full_start"]
    return [
        [f"pool of {n} images: daemon start to name on the bus", ms(d["start_s"]), "-", "-",
         "-", "at most 2 s", verdict(d["start_s"] <= 2.0)],
        [f"pool of {n} images: ListImages", ms(d["list_images_s"]), "-", "-", "-",
         "at most 100 ms", verdict(d["list_images_s"] <= 0.1)],
        [f"pool of {n} images: GetManagedObjects", ms(d["managed_objects_s"]), "-", "-", "-",
         "at most 1 s", verdict(d["managed_objects_s"] <= 1.0)],
        [f"pool of {n} images: virt-scratch list", ms(d["cli_list_s"]), "-", "-", "-",
         "none set", "-"],
        [f"pool of {n} images: idle RSS after start", mib(m["rss"] * 1024), "-", "-", "-",
         "at most 64 MiB", verdict(m["rss"] <= 64 * 1024)],
        # "Unchanged" on a noisy machine: within a quarter of the empty pool's p50.
        [f"pool of {n} images: warm Allocate 1G p50", ms(full), ms(empty),
         "the same daemon build, empty pool", f"{full / empty:.2f}x the time",
         "unchanged (at most 1.25x)", verdict(full / empty <= 1.25)],
    ]


def metrics_rows(d):
    n = d["images"]
    share = d["share_at_15s_percent"]
    return [
        [f"pool of {n} images: one refresh (host bytes of every image, metrics textfile)",
         ms(d["refresh_cpu_s"]) + " CPU", ms(d["du_cpu_s"]) + " CPU", "du -s -B1 of the pool",
         f"{d['refresh_cpu_s'] / d['du_cpu_s']:.2f}x the CPU time" if d["du_cpu_s"] else "-",
         "none set", "-"],
        [f"pool of {n} images: refresh every 15 s, share of one core", f"{share:.3f}%", "-",
         "-", "-", "at most 1%", verdict(share <= 1)],
    ]


def vmstart_rows(d):
    rows = []
    for key, what in (("hook_s", "no scratch disk"), ("hook_disk_s", "one boot scratch disk")):
        added = d[key] - d["no_hook_s"]
        rows.append([f"virsh start with the hook, {what}", ms(d[key]), ms(d["no_hook_s"]),
                     "virsh start without the hook", f"{'+' if added >= 0 else '-'}"
                     f"{ms(abs(added))}", "adds at most 25 ms", verdict(added <= 0.025)])
    # The hook runs synchronously in the start path, so its own time is what it adds; timed
    # alone it is the steady measure on a busy machine.
    rows.append(["the hook alone at prepare, no scratch disk", ms(d["hook_alone_s"]), "-", "-",
                 "-", "adds at most 25 ms", verdict(d["hook_alone_s"] <= 0.025)])
    for key, what in (("hook_alone_disk_s", "runs back to back"),
                      ("hook_alone_disk_settled_s", "the daemon idle before each run")):
        if d.get(key) is None:
            continue
        rows.append([f"the hook alone at prepare, one boot scratch disk (an Allocate), {what}",
                     ms(d[key]), "-", "-", "-", "at most 5 ms", verdict(d[key] <= 0.005)])
    return rows


def migrate_rows(d):
    left = d["left"]
    return [
        times_row("live migration, 10 GiB scratch disk holding 100 MiB", d["ours_s"],
                  d["peer_s"], "the disk pre-created by hand on the destination", 1.1),
        ["the hook alone at migrate begin, one scratch disk (an incoming Allocate)",
         ms(d["hook_disk_s"]), "-", "-", "-", "adds at most 25 ms",
         verdict(d["hook_disk_s"] <= 0.025)],
        [f"left in the two pools after {d['migrations']} migrations and {d['cancelled']} "
         "cancelled", ", ".join(left) if left else "nothing", "-", "-", "-", "nothing",
         verdict(not left)],
    ]


def combined(records):
    by_name = {r["name"]: r for r in records}
    overlay = by_name.get("overlay", {}).get("data")
    makers = {"create": create_rows, "encrypt": encrypt_rows, "transport": transport_rows,
              "overlay": overlay_rows, "memory": memory_rows, "scale": scale_rows,
              "allocate": lambda d: allocate_rows(d, overlay), "vmstart": vmstart_rows,
              "metrics": metrics_rows,
              "migrate": migrate_rows}
    rows = []
    for r in records:
        if r["status"] == "ok":
            try:
                rows += makers[r["name"]](r["data"])
                continue
            except (KeyError, TypeError, ZeroDivisionError) as e:
                r["status"], r["error"] = "failed", f"its results could not be read: {e!r}"
        state = "skipped" if r["status"] == "skipped" else "**failed**"
        # The last line of a traceback or of sys.exit() is the error itself.
        why = r.get("reason") or (r.get("error", "").strip().splitlines() or ["?"])[-1]
        rows.append([f"bench/{r['name']}", f"{state}: {why}", "", "", "", "", ""])
    return common.table(["operation", "virt-scratch", "peer", "peer tool", "ratio", "target",
                         "met?"], rows)


def machine_section(m):
    lines = ["## The machine", ""]
    if m.get("dry_run"):
        lines += ["**A dry run: nothing was measured.**", ""]
    elif m.get("quick"):
        lines += ["**A quick smoke pass (`--quick`): few runs at small sizes; the numbers say "
                  "little.**", ""]
    lines += [
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM: {m['ram']}",
        f"- {m['os']}, kernel {m['kernel']}",
        f"- work files in {m['bench_dir']}",
        f"- {m['qemu-img']}; e2fsprogs: {m['e2fsprogs']}; systemd-repart: {m['systemd-repart']};"
        f" {m['gzip']}; {m['libvirtd']}",
        f"- virt-scratch build: {m['build']}",
        f"- run {m['started']}, taking {m['minutes']} min; 1-minute load average up to "
        f"{m['peak_load']} (at the end {m['end_load']})",
    ]
    # The benchmarks themselves keep every core busy at times (threaded export, mkfs beside the
    # daemon): only a load beyond that says that something else ran.
    if float(m["peak_load"]) > int(m["cores"]) + 0.5:
        lines += ["", f"The machine was busy with other work during this run (load up to "
                  f"{m['peak_load']} on {m['cores']} cores): absolute times are inflated and "
                  "noisier than on a quiet machine; the ratios, measured side by side, hold "
                  "better. A rerun on a quiet machine may differ."]
    return "\n".join(lines) + "\n"


def detail(r):
    title, prose = report_text.SECTIONS[r["name"]]
    out = [f"## {title}", ""]
    if r.get("command"):
        took = f" (took {r['seconds']:.0f} s)" if "seconds" in r else ""
        if r.get("waited_for_lock"):
            took = took[:-1] + ", waiting first for the end-to-end tests to finish)"
        out += [f"`{r['command']}`{took}", ""]
    out += [prose.rstrip(), ""]
    if r["status"] == "skipped":
        out += [f"Not run here: {r.get('reason', '?')}.", ""]
    elif r["status"] == "failed":
        out += ["**This benchmark failed:**", "", "```", r.get("error", "?").rstrip(), "```", ""]
    else:
        table = r.get("table", "").strip().splitlines()
        # The benchmark's own first line repeats its machine; the machine is described above.
        if table and (table[0].startswith("bench/") or table[0].startswith("Machine:")):
            table = table[1:]
        out += ["\n".join(table).strip(), ""]
    return "\n".join(out)


def render(records, m):
    parts = [report_text.INTRO, machine_section(m), "## All benchmarks side by side\n",
             report_text.RATIO_NOTE, combined(records) + "\n"]
    parts += [detail(r) for r in records]
    parts.append(report_text.RERUN)
    return "\n".join(parts)
