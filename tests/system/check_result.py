#!/usr/bin/python3
"""Reports one check of the booted host (boot_host.py): passes when its line says PASS."""
import os
import sys

results, name = sys.argv[1], sys.argv[2]
path = os.path.join(results, "results")
if os.path.exists(os.path.join(results, "skipped")):
    with open(os.path.join(results, "skipped")) as f:
        print("skipped: " + f.read().strip())
    sys.exit(77)
try:
    with open(path) as f:
        lines = f.read().splitlines()
except OSError as e:
    print("no results from the booted host (%s)" % e)
    sys.exit(1)
for line in lines:
    verdict, _, rest = line.partition(" ")
    if rest == name or rest.startswith(name + ": "):
        print(line)
        for extra in ("journal.txt",):
            print("(the daemon's journal is in %s)" % os.path.join(results, extra))
        sys.exit(0 if verdict == "PASS" else 1)
print("the check %s did not run (it is not in %s)" % (name, path))
sys.exit(1)
