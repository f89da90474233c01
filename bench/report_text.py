"""The prose of docs/BENCHMARKS.md around the measured tables (bench/run-all renders it)."""

INTRO = """\
# Benchmarks

Each benchmark runs virt-scratch and its peer side by side in one run, on the same files, and
reports medians. The machines are shared and noisy: read the **ratios**, not the absolute times;
the targets judge ratios wherever there is a peer. Before every timed run the benchmarks call
`sync`, so that neither side pays for the write-back and discards of the run before it (hosts
often mount their disk with `discard`).

This file is written by `bench/run-all` (see [Rerunning](#rerunning) at the end).
"""

RATIO_NOTE = """\
How to read the ratio: "N.NNx the time" (or memory, size) is virt-scratch's figure divided by
the peer's, so below 1 is better; "Nx faster" is the peer's time divided by virt-scratch's. For
`virsh start` the difference in milliseconds is shown. Targets without a peer (bench/allocate)
are absolute.
"""

SECTIONS = {
    "create": ("bench/create: making an image", """\
Peers: the usual pipeline `qemu-img create -f raw` + `mkfs.ext4` + `qemu-img convert -O qcow2`,
and `systemd-repart --empty=create` with one ext4 partition. Peak RSS is the largest of any
process involved (GNU time's `%M`, which includes the mkfs tools virt-scratch runs).

Targets: 1 TiB ext4 qcow2 at most 0.25x the pipeline's time, 100 GiB at most 0.5x; GPT + ext4
raw at most 1.0x systemd-repart; peak memory at most 32 MiB. An empty filesystem's skeleton is
built in a memfd before it is copied into the qcow2 container (see docs/design.md); those tmpfs
pages are not in any RSS: at 1 TiB they are 16 MiB. Filesystems with content, and xfs (whose
64 MiB log is written out), are built in an unnamed file on disk instead.

What made the difference, measured on the way: writing qcow2 from the filesystem's data extents
instead of converting (the pipeline's `qemu-img convert` is most of its time at 1 TiB);
formatting ext* in place inside a raw partition (`mke2fs -E offset`) instead of copying;
keeping work files alive until the image is published, so that freeing them does not join the
journal commit that the publishing `fsync` waits for.
"""),
    "encrypt": ("bench/encrypt: encrypted images", """\
ext4 qcow2, side by side in one run: `virt-scratch create` unencrypted, the same with
`--encrypt luks --key-file KEY` (QEMU's LUKS inside qcow2: aes-xts-plain64, a random master key,
one key slot opened by KEY's bytes, 1000 PBKDF2 iterations), and the pipeline `qemu-img create -f
raw` + `mkfs.ext4` + `qemu-img convert -O qcow2 -o encrypt.format=luks,...` (+ rm of the raw
file). KEY is 32 random bytes in base64. Peak RSS is the largest of any process involved, as in
bench/create. Before the timed runs, once per size, the encrypted image must be right or the
benchmark fails: `qemu-img info` says encrypted, `qemu-img check` opens it with the key and finds
no errors, and its ext4, decrypted with `qemu-img convert -O raw`, passes `e2fsck -fn`.

The peer runs with `encrypt.iter-time=0`: qemu-img's default of 2000 ms spends two seconds on
purpose deriving the key slot, and 0 gives QEMU's floor of 1000 iterations, the same PBKDF2 work
as virt-scratch's, which favours the peer. Whatever the iter-time, qemu-img first calibrates
PBKDF2 (twice, at least half a second of CPU each) and fails with "Unable to get accurate CPU
usage" when a calibration reads no CPU time, which tick-based CPU accounting now and then causes:
4 times in 440 tries on this machine, spread over iter-time 0, 1, 2, 5, 10 and the default (none
in 100 at 0, none in 60 at the default), so a lower iter-time does not avoid it. A timed peer run
whose `qemu-img convert` fails is run again and not counted; the note under the table says how
many were.

Targets: encrypted at most 2x the unencrypted time and at most 0.25x the peer's, at every size;
peak memory at most 32 MiB, as for bench/create.
"""),
    "transport": ("bench/transport: gzip export and import", """\
A raw image holding data in 1 MiB pieces spread over the disk, half random, half text. Peers:
`gzip -1 -c` for export, `gunzip -c | cp --sparse=always` for import.

Targets: export at least 30x faster than `gzip -1 -c` with output at most 1.05x its size (holes
are coded as long deflate matches, and incompressible blocks are stored rather than run through
deflate); import at least 20x faster than `gunzip -c | cp --sparse=always` with allocated bytes
at most 1.1x the data. The import of gzip -1's stream is checked byte for byte against the image
(the last line below).
"""),
    "memory": ("bench/memory: peak memory of export and info on a fragmented image", """\
A raw image of 4 KiB data extents each followed by a 4 KiB hole: the worst fragmentation a
guest can make (2 million extents, 16 GB sparse, 8 GB of data, for a full run). Export and info
walk the extents a window of guest bytes at a time and export's compression jobs are made as they
are consumed, so neither keeps a list that grows with the extents. Peer: `qemu-img map`, which
lists them all.

Target: at most 64 MiB of peak RSS for each, whatever the fragmentation.
"""),
    "overlay": ("bench/overlay: a per-VM disk from a cached base, as Nova's ephemeral disks", """\
OpenStack Nova keeps one formatted ephemeral base per size and gives each instance a qcow2
overlay on it: `qemu-img create -f qcow2 -b base -F qcow2 disk`. Here the base is a qcow2 + ext4
image made once per size with the usual pipeline (not timed); each timed run makes one disk from
it, with the peer and with `virt-scratch clone --backing` (also an overlay) and `virt-scratch
clone` (an independent copy: a reflink where the host filesystem shares blocks, a copy of the
data extents otherwise). Nova's bases are raw files; the overlay's cost does not depend on that.

What the guest gets is not the same, and the table says so:
- the peer's overlay is the base byte for byte: every disk made from one base has the **same
  filesystem UUID** (and label), so two such disks in one VM, or UUID-keyed tools across VMs,
  cannot tell them apart. Making it writes (and syncs) only a qcow2 header, which is why it is
  hard to beat;
- `clone --backing` is an overlay too, but every clone gets a **new filesystem UUID**: it holds
  the clusters that the new identity changed (the allocated column), and it is slower for it;
- `clone` gives a new UUID and needs nothing else: the disk survives the base's removal;
- both overlays need the base for their whole life.

The UUID column is read at the first size only (with blkid, from a raw conversion); it does not
depend on the size.

The daemon's way of doing the same is a warm Allocate (bench/allocate): a spare clone with a new
UUID prepared in advance from the spec's template, handed out through the bus. The combined
table sets it against the peer's overlay at the same size. No target is set for this benchmark.
"""),
    "allocate": ("bench/allocate: virt-scratchd's Allocate through the bus", """\
A private dbus-daemon with the project's policy, the real virt-scratchd (templates in `reflink`
mode, which on a host without reflinks means a data copy), qcow2 + ext4 images. Cold: a spec
never seen (mkfs runs); warm: the spec's template is cached. The boot storm, at each size, is
Allocates at once from separate, already connected client processes, with the template warm; it
takes more images than there are spares.

Targets: warm Allocate p50 at most 10 ms for any size and at most 5 ms at 1 TiB (one connection,
one call at a time); 64 concurrent Allocates within 1 s at every size; idle anonymous memory at
most 8 MiB (RSS and PSS beside it, from `/proc/PID/smaps_rollup`). Warm allocations are served
from spare clones the daemon prepares per template; a warm p99 far above the p50 is a request
that found no spare ready and paid for a full clone (a data copy on a host without reflinks).

The idle memory target is stated for anonymous memory, the daemon's own: since the daemon links
libvirt for its watcher, about 11 MiB of its RSS are clean pages of shared libraries that libvirt
loads (GnuTLS, libcrypto, libssh, ICU among them), the same pages libvirtd itself maps on a
libvirt host, and PSS divides those among the processes that map them.

Authorization side by side (bench/authorization.py): warm 1 GiB Allocates from a client running
as root (the daemon asks the bus for the caller's credentials, not polkit) and from one running
as a member of group libvirt (a real polkitd on the private bus, with the project's actions and
rules, authorizes each call), in three alternating rounds on the same daemon. Target: the
polkit-authorized caller at most 3 ms over root. Root's own figure is compared with the daemon
before polkit by running bench/allocate with `VIRTSCRATCHD=` pointing at that build.

Encrypted Allocates (`--encryption`, not in bench/run-all's plan): at each size, right after the
warm runs and on the same daemon, the same spec with `encryption` = `luks`, one at a time. An
encrypted image is never a clone of a template (each has its own key): it is a spare encrypted
ahead under its own key and renamed into place, or, when none is ready, made cold (mkfs, then
written encrypted); without `[libvirt] uri`, as here, its key stays in the daemon's memory. The first one is checked: `qemu-img info` on the path the Allocate returned must
say encrypted, or the benchmark fails. Target: encrypted Allocate p50 at most 15 ms at 1 TiB over
one connection; the ratio is to the warm unencrypted p50 of the same size in the same run.
"""),
    "scale": ("bench/scale: a pool of 10,000 images", """\
A private dbus-daemon and the real virt-scratchd, as in bench/allocate. The pool is made through
the daemon's own Allocate (raw images without a filesystem, lifetime manual, one per domain, 64
calls in flight), then the daemon is started again on it: start is the time from its exec until
its name is on the bus (it reads every record and exports every image before it takes the name).
ListImages and GetManagedObjects are timed until the whole reply is received (not unpacked in
Python); `virt-scratch list` is the command's wall time. Warm Allocates (qcow2 + ext4 1G, each
released) alternate in rounds between this daemon and a second one with an empty pool on a bus of
its own. Memory is read from `/proc/PID/smaps_rollup` once the daemon has used no CPU time for
half a second.

Targets: start to serving at most 2 s, ListImages at most 100 ms, GetManagedObjects at most 1 s,
RSS at most 64 MiB, warm Allocate p50 unchanged by the pool's size.
"""),
    "metrics": ("bench/metrics: the refresh of space accounting and metrics", """\
A private dbus-daemon and the real virt-scratchd, as in bench/scale, on a pool of 1,000 images
made through its own Allocate. Every `[pool] refresh` seconds the daemon reads the host bytes of
every image (one `openat` and one `fstatat` each) and `statvfs`, checks the high-water mark and
the reserve, renders the metrics and replaces `[metrics] textfile` (write, fsync, rename). The
daemon runs with `refresh=1` and a textfile, and with `refresh=86400` and none, in alternating
rounds of 10 s; its CPU time in each is read from `/proc/PID/schedstat`, and the refresh's cost
is the difference per refresh. The peer is `du -s -B1` of the pool (how a script learns the
allocated bytes today), its CPU time from `wait4`'s rusage.

Target: at the default refresh of 15 s, at most 1% of one core with 1,000 images.
"""),
    "vmstart": ("bench/vmstart: what the hook and the watcher cost a VM's start", """\
Real libvirtd and QEMU (software emulation, `<domain type='qemu'>`) set up by `scripts/vm-env`,
virt-scratchd on the system bus. `virsh start` is timed until the domain runs; runs with and
without the hook alternate (adding or removing the hook restarts libvirtd, so those alternate in
rounds of 5). The hook alone is run as libvirt runs it at `prepare begin`. STARTED to
hot-plugged is the time between libvirt's STARTED and device-added events for a domain with one
`attach='hotplug'` disk, which the daemon's watcher causes. The benchmark waits for the
end-to-end tests' lock, so it never shares libvirtd with them.

Target: the hook adds at most 25 ms (p50) to `virsh start`. On a busy machine the `virsh start`
medians swing by hundreds of milliseconds between runs; the hook-alone rows are the steady
measure.
"""),
    "migrate": ("bench/migrate: a live migration with a scratch disk", """\
The cluster tier's two Debian 12 hosts (systemd-nspawn on this machine, libvirtd on loopback TCP,
this build installed in both; `tests/cluster/`). Two copies of the tiny guest run side by side,
each with a 10 GiB qcow2 + ext4 disk to which it writes 100 MiB before it keeps reading a marker
back from the disk: one with a virt-scratch scratch disk (the hook's `migrate begin` has the
destination's virt-scratchd make the empty image; the source releases its own when the guest has
left), the peer with the same image at a path of its own and, before each migration, `qemu-img
create` of an empty one on the destination by hand (not timed; the source's file removed by
hand). Both go back and forth with `virsh migrate --live --persistent --undefinesource
--copy-storage-all`, alternating who goes first; a migration is timed from virsh's start until
it returns, and the guest must read its marker on the destination before the next. Every fifth
round trip of the virt-scratch guest begins with a migration cancelled midway (domjobabort). The
hook alone is run inside the destination as libvirtd runs it at `migrate begin`, each run
followed by a release. At the end the two pools must hold nothing but the running guest's
image.

Targets: a migration takes at most 1.1x the peer's time; the hook adds at most 25 ms; nothing is
left behind.
"""),
}

RERUN = """\
## Rerunning

```
bench/run-all                    # every benchmark, then this file (root: allocate, scale,
                                 # vmstart, migrate)
bench/run-all --runs 3           # fewer runs per measurement
bench/run-all --quick            # a smoke pass at small sizes, printed rather than written here
bench/run-all --only overlay     # one benchmark (or a comma-separated list), printed
bench/run-all --dry-run          # check the plan and render the document without running
bench/run-all --results DIR      # keep each benchmark's JSON and log in DIR;
bench/run-all --results DIR --render-only   # ... and render this file again from them
```

Each benchmark also runs alone and prints its Markdown table (`--json FILE` writes its numbers):

```
bench/create [--runs N] [--sizes 10G,100G,1T]
bench/encrypt [--runs N] [--sizes 100G,1T]
bench/transport [--runs N] [--size 10G] [--data 100M]
bench/overlay [--runs N] [--sizes 1G,1T]
bench/memory [--runs N] [--extents 2000000]
bench/allocate [--runs N] [--sizes 1G,1T] [--storm 64] [--templates reflink|overlay]
               [--contention MIB] [--encryption]
bench/scale [--runs N] [--images 10000]
bench/metrics [--runs N] [--images 1000] [--rounds 4] [--seconds 10]
bench/vmstart [--runs N]
bench/migrate [--runs N]
```

Each installs what it needs (`scripts/deps`), builds what it runs (in `$BUILD_DIR`, default
`build/`), works in a fresh directory under `/var/tmp` (or `$BENCH_DIR`). bench/allocate,
bench/scale, bench/vmstart and bench/migrate need root; bench/vmstart starts libvirtd through
`scripts/vm-env`, restarts it to add and remove the hook, and waits for the end-to-end tests'
lock `/run/virt-scratch-e2e.lock`; bench/migrate boots the cluster tier's two hosts (libvirtd on
127.0.0.1 ports 16601 and 16602) and needs `build/` configured for the system's paths, as
`scripts/test` leaves it.
"""
