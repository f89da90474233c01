#!/bin/bash
# The system checks, run by checks.service inside the booted host (boot_host.py). The first ones
# install the virt-scratch package with dpkg (boot_host.py put it in /var/tmp/virt-scratch-debs)
# and the last ones purge it. Each check writes one line to $1/results: "PASS name" or
# "FAIL name: why". Waits poll a state with a deadline; nothing sleeps to let something happen.
set -u
out=$1
mkdir -p "$out"
results=$out/results
: >"$results"
unit=virt-scratchd.service
# Every client call has a deadline: a hung call must fail its check, not the whole boot.
vs="timeout 120 virt-scratch"
work=/var/tmp/checks
mkdir -p "$work"

# What the host shows afterwards, also when a check stops the script.
dump() {
  echo "libvirtd: $(systemctl is-active libvirtd 2>&1)" >"$out/libvirtd.txt"
  journalctl -u libvirtd --no-pager >>"$out/libvirtd.txt" 2>&1
  journalctl -u $unit --no-pager -o short-precise >"$out/journal.txt" 2>&1
  journalctl -u $unit --no-pager -o json >"$out/journal.json" 2>&1
  journalctl --no-pager -b >"$out/boot-journal.txt" 2>&1
}
trap dump EXIT

pass() { echo "PASS $1" >>"$results"; }
fail() { echo "FAIL $1: $2" >>"$results"; }
prop() { systemctl show -p "$2" --value "$1"; }

# until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds or the deadline passes.
until_() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
# Each property is read on its own: the new process first, then its state. Read the other way
# round, "active" could be the old process's, read just before the watchdog or the kill, and the
# unit still activating when the caller goes on (a reload then merges into the start job and
# does nothing: that happened once).
active_with_new_pid() {
  local main
  main=$(prop $unit MainPID)
  [ "$main" != 0 ] && [ "$main" != "$1" ] && [ "$(prop $unit NRestarts)" -gt "$2" ] &&
    [ "$(prop $unit ActiveState)" = active ]
}
# The id of an image of the domain, as 'virt-scratch list' shows it (the UUID's hex digits first).
image_of() { $vs list 2>/dev/null | awk '{print $1}' | grep -m1 -- "${1//-/}"; }
journal_has() { journalctl -u $unit --no-pager -o cat | grep -qF -- "$1"; }

# --- the package, installed as an administrator would: dpkg under the booted systemd and bus
deb=$(ls /var/tmp/virt-scratch-debs/virt-scratch_*.deb 2>/dev/null | head -n 1)
# libvirtd runs, so that one can tell whether the installation restarted it.
timeout 60 systemctl start libvirtd.service >/dev/null 2>&1
libvirtd_pid=$(prop libvirtd.service MainPID)
installed() { [ "$(dpkg-query -W -f='${Status}' virt-scratch 2>/dev/null)" = "install ok installed" ]; }
if [ -z "$deb" ]; then
  fail PackageInstalls "no virt-scratch_*.deb in /var/tmp/virt-scratch-debs"
elif ! DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "$deb" >"$out/dpkg-install.txt" 2>&1; then
  fail PackageInstalls "dpkg -i failed: $(tail -n 5 "$out/dpkg-install.txt" | tr '\n' ' ')"
elif ! installed; then
  fail PackageInstalls "dpkg-query says: $(dpkg-query -W -f='${Status}' virt-scratch 2>&1)"
else
  pass PackageInstalls
fi

if ! grep -q "libvirtd reads its hooks only when it starts" "$out/dpkg-install.txt" 2>/dev/null; then
  fail PackageAsksForALibvirtdRestart "dpkg -i printed no word of restarting libvirtd"
elif [ "$libvirtd_pid" = 0 ]; then
  fail PackageAsksForALibvirtdRestart "libvirtd was not running before the installation"
elif [ "$(prop libvirtd.service MainPID)" != "$libvirtd_pid" ]; then
  fail PackageAsksForALibvirtdRestart "the installation restarted libvirtd (pid $libvirtd_pid, now $(prop libvirtd.service MainPID))"
else
  pass PackageAsksForALibvirtdRestart
fi

# Bus-activated: installed and known to systemd, but neither enabled nor started.
load=$(prop $unit LoadState) state=$(prop $unit ActiveState) file_state=$(prop $unit UnitFileState)
if [ "$load" != loaded ] || [ "$state" != inactive ] || [ "$file_state" != disabled ]; then
  fail PackageLeavesTheUnitInactiveAndDisabled "the unit is $load, $state, $file_state (want loaded, inactive, disabled)"
else
  pass PackageLeavesTheUnitInactiveAndDisabled
fi

listed=$(dpkg -L virt-scratch 2>&1)
missing=""
for path in /etc/libvirt/hooks/qemu.d/virt-scratch /usr/libexec/virt-scratch-hook \
  /usr/bin/virt-scratch /usr/libexec/virt-scratchd /lib/systemd/system/virt-scratchd.service \
  /usr/share/dbus-1/system.d/org.virtscratch.Scratch1.conf \
  /usr/share/dbus-1/system-services/org.virtscratch.Scratch1.service \
  /usr/share/polkit-1/actions/org.virtscratch.scratch1.policy \
  /etc/virt-scratch/virt-scratchd.conf; do
  grep -qx -- "$path" <<<"$listed" || missing="$missing $path"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' virt-scratch 2>&1)
if [ -n "$missing" ]; then
  fail PackageListsTheHookAndBinariesWhereDebianExpectsThem "dpkg -L virt-scratch lacks$missing"
elif [ "$(readlink -f /etc/libvirt/hooks/qemu.d/virt-scratch)" != /usr/libexec/virt-scratch-hook ] ||
  [ ! -x /etc/libvirt/hooks/qemu.d/virt-scratch ]; then
  fail PackageListsTheHookAndBinariesWhereDebianExpectsThem "the hook is not an executable link to /usr/libexec/virt-scratch-hook: $(ls -l /etc/libvirt/hooks/qemu.d/ 2>&1 | tr '\n' ' ')"
elif ! grep -q " /etc/virt-scratch/virt-scratchd.conf " <<<"$conffiles"; then
  fail PackageListsTheHookAndBinariesWhereDebianExpectsThem "/etc/virt-scratch/virt-scratchd.conf is not a conffile: $conffiles"
else
  pass PackageListsTheHookAndBinariesWhereDebianExpectsThem
fi

# --- D-Bus activation by a client call, right after the installation (no reboot, no reload by
# hand: dbus's trigger reloaded the bus, the postinst systemd)
state=$(prop $unit ActiveState)
if [ "$state" != inactive ]; then
  fail DBusActivation "the daemon was $state before any call"
elif ! status=$($vs status 2>&1); then
  fail DBusActivation "virt-scratch status failed: $status"
elif [ "$(prop $unit ActiveState)" != active ]; then
  fail DBusActivation "the call succeeded but the unit is $(prop $unit ActiveState)"
else
  pass DBusActivation
fi

# --- every filesystem x partition table, made under the unit's sandbox
uuid_of() { printf '5c7a7a00-0000-4000-8000-%012d' "$1"; }
n=0
for fs in none ext2 ext3 ext4 xfs btrfs vfat swap; do
  n=$((n + 1))
  domain=$(uuid_of $n)
  for pt in none mbr gpt; do
    name=Filesystem.$fs.$pt
    target=vd$pt
    [ $pt = none ] && target=vdn
    if ! path=$($vs allocate "$domain" --size 1G --format raw --filesystem $fs --partition $pt \
      --target $target --lifetime domain 2>&1); then
      fail $name "allocate failed: $path"
      continue
    fi
    offset=0
    if [ $pt != none ]; then
      label=$(sfdisk -d "$path" 2>/dev/null | sed -n 's/^label: //p')
      want=$([ $pt = mbr ] && echo dos || echo gpt)
      if [ "$label" != "$want" ]; then
        fail $name "partition table is '$label', not $want"
        continue
      fi
      start=$(sfdisk -d "$path" | sed -n 's/.*start= *\([0-9]*\).*/\1/p' | head -1)
      offset=$((start * 512))
    fi
    type=$(blkid -p -O $offset -o value -s TYPE "$path" 2>/dev/null)
    want=$fs
    [ $fs = none ] && want=
    if [ "$type" != "$want" ]; then
      fail $name "blkid finds '$type', not '$want'"
    else
      pass $name
    fi
  done
done

# --- Restart= after SIGKILL, with the pool intact
before=$($vs list 2>&1 | sort)
pid=$(prop $unit MainPID)
restarts=$(prop $unit NRestarts)
kill -KILL "$pid"
if ! until_ 30 active_with_new_pid "$pid" "$restarts"; then
  fail RestartAfterSigkill "not active again with a new process within 30 s ($(prop $unit ActiveState), NRestarts $(prop $unit NRestarts))"
elif after=$($vs list 2>&1 | sort) && [ "$after" != "$before" ]; then
  fail RestartAfterSigkill "the pool changed: before [$before] after [$after]"
elif [ -z "$before" ]; then
  fail RestartAfterSigkill "the pool was empty before the kill"
else
  pass RestartAfterSigkill
fi

# --- WatchdogSec= restarts a daemon whose loop is stopped
pid=$(prop $unit MainPID)
restarts=$(prop $unit NRestarts)
kill -STOP "$pid"
if ! until_ 60 active_with_new_pid "$pid" "$restarts"; then
  fail WatchdogRestart "not restarted within 60 s of SIGSTOP (WatchdogUSec $(prop $unit WatchdogUSec), $(prop $unit ActiveState))"
elif ! journal_has "Watchdog timeout"; then
  fail WatchdogRestart "restarted, but systemd logged no watchdog timeout"
else
  pass WatchdogRestart
fi

# --- systemctl reload re-reads the configuration
dropin=/etc/virt-scratch/virt-scratchd.conf.d/91-test-reload.conf
reload_domain=$(uuid_of 90)
printf '[pool]\nquota = 3G\n' >"$dropin"
mark=$(journalctl -u $unit --no-pager -o cat | grep -c "configuration reloaded")
reloaded() { [ "$(journalctl -u $unit --no-pager -o cat | grep -c "configuration reloaded")" -gt "$mark" ]; }
if ! timeout 60 systemctl reload $unit; then
  fail Reload "systemctl reload failed"
elif ! until_ 20 reloaded; then
  fail Reload "no 'configuration reloaded' in the journal"
elif err=$($vs allocate "$reload_domain" --size 2G --format raw --filesystem none 2>&1); then
  fail Reload "a 2G allocate passed the reloaded quota of 3G with 24G in the pool"
elif ! grep -qi quota <<<"$err"; then
  fail Reload "the allocate failed, but not for the quota: $err"
else
  pass Reload
fi

printf '[pool]\nquota = banana\n' >"$dropin"
pid=$(prop $unit MainPID)
bad_reported() { journalctl -u $unit --no-pager -o cat -p err | grep -q "banana"; }
if ! timeout 60 systemctl reload $unit; then
  fail ReloadKeepsConfigOnError "systemctl reload failed"
elif ! until_ 20 bad_reported; then
  fail ReloadKeepsConfigOnError "no error naming the bad value in the journal"
elif [ "$(prop $unit MainPID)" != "$pid" ] || [ "$(prop $unit ActiveState)" != active ]; then
  fail ReloadKeepsConfigOnError "the daemon did not stay up"
elif err=$($vs allocate "$reload_domain" --size 2G --format raw --filesystem none 2>&1) ||
  ! grep -qi quota <<<"$err"; then
  fail ReloadKeepsConfigOnError "the quota of the previous configuration no longer holds: $err"
else
  pass ReloadKeepsConfigOnError
fi
rm -f "$dropin"
systemctl reload $unit

# --- logs in journald with PRIORITY and fields to filter on
first=$(uuid_of 1)
id=$(image_of "$first")
json=$(journalctl -u $unit --no-pager -o json "DOMAIN_UUID=$first" PRIORITY=6 2>&1)
if [ -z "$id" ]; then
  fail JournalFields "no image of domain $first in 'virt-scratch list'"
elif [ -z "$json" ]; then
  fail JournalFields "no entry with DOMAIN_UUID=$first and PRIORITY=6"
elif ! journalctl -u $unit --no-pager -o json "IMAGE_ID=$id" | grep -qF "\"IMAGE_ID\":\"$id\""; then
  fail JournalFields "no entry with IMAGE_ID=$id"
elif ! journalctl -u $unit --no-pager -o json -p err | grep -qF '"PRIORITY":"3"'; then
  fail JournalFields "the reload error has no PRIORITY=3 entry"
elif ! grep -qF '"SYSLOG_IDENTIFIER":"virt-scratchd"' <<<"$json"; then
  fail JournalFields "no SYSLOG_IDENTIFIER=virt-scratchd"
else
  pass JournalFields
fi

# --- [metrics] textfile under the unit's sandbox (ProtectSystem=strict, UMask=0077): the unit's
# ReadWritePaths= lets the daemon replace the file in node_exporter's directory on Debian, and
# the file is readable by node_exporter's user. The directory exists before the daemon starts,
# as prometheus-node-exporter's package makes it.
textdir=/var/lib/prometheus/node-exporter
mkdir -p "$textdir"
metrics_dropin=/etc/virt-scratch/virt-scratchd.conf.d/92-test-metrics.conf
printf '[pool]\nrefresh = 1\n[metrics]\ntextfile = %s/virt-scratch.prom\n' "$textdir" >"$metrics_dropin"
timeout 60 systemctl restart $unit
metrics_written() { grep -q '^virtscratch_pool_allocated_bytes ' "$textdir/virt-scratch.prom" 2>/dev/null; }
if ! until_ 30 metrics_written; then
  fail MetricsTextfileInTheSandbox "no metrics in $textdir/virt-scratch.prom: $(journalctl -u $unit --no-pager -o cat -p warning | tail -n 3 | tr '\n' ' ')"
elif [ "$(stat -c %a "$textdir/virt-scratch.prom")" != 644 ]; then
  fail MetricsTextfileInTheSandbox "the file has mode $(stat -c %a "$textdir/virt-scratch.prom"), not 644"
elif ! diff <($vs metrics | grep -c '^virtscratch_') <(grep -c '^virtscratch_' "$textdir/virt-scratch.prom") >/dev/null; then
  fail MetricsTextfileInTheSandbox "virt-scratch metrics and the file have different series"
else
  pass MetricsTextfileInTheSandbox
fi
rm -f "$metrics_dropin"
timeout 60 systemctl restart $unit

# --- systemd-analyze security at or below 1.5
sec=$(systemd-analyze security --no-pager $unit 2>&1)
echo "$sec" >"$out/security.txt"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec")
if [ -z "$score" ]; then
  fail Security "no score in systemd-analyze's output"
elif awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
  pass "Security: exposure $score"
else
  fail Security "exposure $score is above 1.5"
fi

# --- SIGTERM lets an export in progress finish (last: it stops the daemon)
export_domain=$(uuid_of 91)
if ! path=$($vs allocate "$export_domain" --size 1G --format raw --filesystem none \
  --lifetime domain 2>&1); then
  fail SigtermFinishesExport "allocate failed: $path"
else
  # Incompressible data, so that the export takes long enough to be stopped in the middle.
  head -c 400M /dev/urandom | dd of="$path" conv=notrunc status=none
  id=$(image_of "$export_domain")
  rm -f "$work/export.gz"
  timeout 300 virt-scratch export --daemon --threads 1 "$id" "$work/export.gz" >"$work/export.log" 2>&1 &
  client=$!
  exporting() { busctl tree --list org.virtscratch.Scratch1 2>/dev/null | grep -qi job; }
  started() { [ -s "$work/export.gz" ] || exporting; }
  if ! until_ 20 started; then
    fail SigtermFinishesExport "the export did not start"
  else
    pid=$(prop $unit MainPID)
    systemctl stop $unit
    wait $client
    rc=$?
    size=$(gzip -dc "$work/export.gz" 2>/dev/null | wc -c)
    if [ $rc != 0 ]; then
      fail SigtermFinishesExport "the export failed: $(cat "$work/export.log")"
    elif [ "$size" != $((1 << 30)) ]; then
      fail SigtermFinishesExport "the export holds $size bytes, not 1 GiB"
    elif ! journal_has "stopping: finishing the work in progress"; then
      fail SigtermFinishesExport "the daemon did not log that it finishes its work"
    elif [ "$(prop $unit ActiveState)" != inactive ] || [ "$(prop $unit Result)" != success ]; then
      fail SigtermFinishesExport "the unit is $(prop $unit ActiveState) ($(prop $unit Result))"
    else
      pass SigtermFinishesExport
    fi
  fi
fi

# --- purge: the daemon stops and the pool stays, unless the administrator said otherwise
# (virt-scratch/purge-pool). Last: it removes the package.
pool=/var/lib/virt-scratch/pool
pool_files() { find "$pool" -path "$pool/.templates" -prune -o -type f -print 2>/dev/null | sort; }
# The daemon runs (activated again), so that the purge has to stop it.
$vs status >/dev/null 2>&1
before=$(pool_files)
running_before=$(prop $unit ActiveState)
if ! DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge virt-scratch >"$out/dpkg-purge.txt" 2>&1; then
  fail PurgeStopsTheDaemonAndKeepsThePool "dpkg --purge failed: $(tail -n 5 "$out/dpkg-purge.txt" | tr '\n' ' ')"
elif installed || [ -e /usr/libexec/virt-scratchd ] || [ -e /etc/virt-scratch/virt-scratchd.conf ]; then
  fail PurgeStopsTheDaemonAndKeepsThePool "the package's files are still there"
elif [ "$running_before" != active ]; then
  fail PurgeStopsTheDaemonAndKeepsThePool "the daemon was $running_before before the purge, not active"
elif pgrep -x virt-scratchd >/dev/null; then
  fail PurgeStopsTheDaemonAndKeepsThePool "virt-scratchd still runs after the purge"
elif [ -z "$before" ]; then
  fail PurgeStopsTheDaemonAndKeepsThePool "the pool was empty before the purge"
elif [ "$(pool_files)" != "$before" ]; then
  fail PurgeStopsTheDaemonAndKeepsThePool "the pool changed: before [$before] after [$(pool_files)]"
else
  pass PurgeStopsTheDaemonAndKeepsThePool
fi

if ! DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "$deb" >"$out/dpkg-install-again.txt" 2>&1; then
  fail PurgeRemovesThePoolWhenTheAdminSaidSo "dpkg -i again failed: $(tail -n 5 "$out/dpkg-install-again.txt" | tr '\n' ' ')"
elif ! echo "virt-scratch virt-scratch/purge-pool boolean true" | debconf-set-selections; then
  fail PurgeRemovesThePoolWhenTheAdminSaidSo "debconf-set-selections failed"
elif ! DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge virt-scratch >>"$out/dpkg-purge.txt" 2>&1; then
  fail PurgeRemovesThePoolWhenTheAdminSaidSo "dpkg --purge failed: $(tail -n 5 "$out/dpkg-purge.txt" | tr '\n' ' ')"
elif [ -e /var/lib/virt-scratch ]; then
  fail PurgeRemovesThePoolWhenTheAdminSaidSo "/var/lib/virt-scratch is still there"
else
  pass PurgeRemovesThePoolWhenTheAdminSaidSo
fi
