#!/usr/bin/python3
"""Allocate from Python through GDBus, as docs/dbus-api.md shows; the daemon tests run it.

    allocate_example.py DOMAIN-UUID [TARGET]

Prints the image object and its file, or the daemon's error name and message (exit 1).
"""
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)  # honours DBUS_SYSTEM_BUS_ADDRESS
    spec = {"size": GLib.Variant("t", 1 << 30),
            "filesystem": GLib.Variant("s", "xfs"),
            "target": GLib.Variant("s", argv[2] if len(argv) == 3 else "vdb"),
            "lifetime": GLib.Variant("s", "manual")}
    try:
        # A cold Allocate formats a disk: minutes (ms here), not GDBus's default of 25 s.
        image, path = bus.call_sync(
            "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1",
            "org.virtscratch.Scratch1.Manager", "Allocate",
            GLib.Variant("(sa{sv})", (argv[1], spec)), GLib.VariantType("(os)"),
            Gio.DBusCallFlags.NONE, 300_000, None).unpack()
    except GLib.Error as e:
        # e.g. org.virtscratch.Scratch1.Error.InvalidArgument, the message naming the bad value
        name = Gio.DBusError.get_remote_error(e)
        Gio.DBusError.strip_remote_error(e)
        print(f"{name}: {e.message}", file=sys.stderr)
        return 1
    print(f"image {image}\nfile {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
