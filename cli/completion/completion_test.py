#!/usr/bin/python3
"""Checks the bash completion of virt-scratch against the command's own --help texts.

  completion_test.py VIRT_SCRATCH COMPLETION [BASH_COMPLETION_LIBRARY]

Sources COMPLETION in a non-interactive bash (after bash-completion's library when it is given,
as an interactive shell with bash-completion has it; without, as a plain bash), sets COMP_LINE,
COMP_POINT, COMP_WORDS and COMP_CWORD as bash does for a command line, calls _virt_scratch and
reads COMPREPLY:
  - "virt-scratch " offers every command that `virt-scratch --help` lists;
  - "virt-scratch COMMAND --" offers exactly the options of `virt-scratch COMMAND --help` (and
    `export --daemon --help`), an option given already is not offered again;
  - options with a fixed set of values offer that set, each value named by the option's help;
    every option that takes a value is known here as fixed, free or a path, so that a new one
    fails until it is added;
  - arguments and options that are paths offer files (directories for --content).
Prints each check; exits 1 if any fails.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

FIXED = {
    "--format": ["raw", "qcow2"],
    "--from": ["raw", "qcow2"],
    "--filesystem": ["none", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap"],
    "--partition": ["none", "mbr", "gpt"],
    "--preallocation": ["off", "metadata", "falloc", "full"],
    "--encrypt": ["none", "luks"],
    "--encryption": ["none", "luks"],
    "--discard": ["unmap", "ignore"],
    "--lifetime": ["boot", "domain", "manual"],
    "--attach": ["boot", "hotplug"],
}
# Values offered that the help text does not spell out one by one.
RANGES = {"--level": [str(n) for n in range(1, 10)],
          "--connect": ["qemu:///system", "qemu:///session"]}
FREE = {"--size", "--size-per-vcpu", "--vcpus", "--label", "--uuid", "--target", "--threads"}
PATHS = {"--content": "dir", "--key-file": "file", "--output": "file"}
# What each command's positional arguments are (None: nothing to offer).
POSITIONALS = {
    "create": ["file"], "info": ["file"], "export": ["file", "file"], "import": ["file", "file"],
    "clone": ["file", "file"], "resize": ["file", None], "export --daemon": [None, "file"],
}

failures = []


def check(ok, text):
    print(("ok:   " if ok else "FAIL: ") + text)
    if not ok:
        failures.append(text)


def help_text(binary, *args):
    result = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        check(False, f"{binary} {' '.join(args)} --help exited {result.returncode}")
    return result.stdout


def help_options(text):
    """{option: (takes a value, its description)} of a --help text's option list."""
    options, current = {}, None
    for line in text.splitlines():
        match = re.match(r"  (?:-[a-z], )?(--[a-z][a-z0-9-]*)( [A-Z][A-Z-]*)?\s*(.*)", line)
        if match:
            current = match.group(1)
            options[current] = [match.group(2) is not None, match.group(3)]
        elif current and line.startswith("    ") and line.strip():
            options[current][1] += " " + line.strip()
        else:
            current = None
    return {k: tuple(v) for k, v in options.items()}


def comp_words(line):
    """COMP_WORDS and COMP_CWORD as bash makes them (COMP_WORDBREAKS' '=' and ':' split words)."""
    words = re.findall(r"[=:]+|[^\s=:]+", line)
    if not line or line[-1].isspace():
        words.append("")
    return words, len(words) - 1


class Completer:
    def __init__(self, completion, library):
        self.completion, self.library = completion, library

    def complete(self, lines):
        """COMPREPLY for each command line, from one bash."""
        script = []
        if self.library:
            script.append(f"source {shlex.quote(self.library)}")
        script.append(f"source {shlex.quote(self.completion)}")
        for line in lines:
            words, cword = comp_words(line)
            script += [
                f"COMP_LINE={shlex.quote(line)}; COMP_POINT={len(line)}",
                "COMP_WORDS=(" + " ".join(shlex.quote(w) for w in words) + f"); COMP_CWORD={cword}",
                "COMPREPLY=(); _virt_scratch",
                'printf "%s\\n" "${COMPREPLY[@]}"; echo "@@end"',
            ]
        result = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
                                capture_output=True, text=True, check=False,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                     "HOME": os.environ.get("HOME", "/")})
        if result.returncode != 0 or result.stderr:
            check(False, f"bash (exit {result.returncode}) said: {result.stderr.strip()}")
        replies = result.stdout.split("@@end\n")[:-1]
        if len(replies) != len(lines):
            check(False, f"expected {len(lines)} replies, got {len(replies)}:\n{result.stdout}")
            return {line: [] for line in lines}
        return {line: [w for w in reply.split("\n") if w] for line, reply in zip(lines, replies)}


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    binary, completion = argv[1], argv[2]
    library = argv[3] if len(argv) == 4 else None
    completer = Completer(completion, library)
    print("with bash-completion's library " + library if library else "in a plain bash")

    usage = help_text(binary)
    match = re.search(r"^Commands:\n((?:  \S.*\n)+)", usage, re.M)
    commands = [line.split()[0] for line in match.group(1).splitlines()] if match else []
    check(bool(commands), f"'virt-scratch --help' lists commands: {' '.join(commands)}")
    helps = {c: help_options(help_text(binary, c)) for c in commands}
    if "export" in helps:
        helps["export --daemon"] = help_options(help_text(binary, "export", "--daemon"))

    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "subdir"))
        for name in ("disk.qcow2", "sparse.raw"):
            open(os.path.join(tmp, name), "w").close()
        lines = ["virt-scratch ", "virt-scratch --"]
        for name in helps:
            lines += [f"virt-scratch {name} --", f"virt-scratch {name} --help --"]
            for option, (takes_value, _) in helps[name].items():
                if takes_value:
                    lines += [f"virt-scratch {name} {option} ", f"virt-scratch {name} {option}=",
                              f"virt-scratch {name} {option} {tmp}/"]
            for index in range(len(POSITIONALS.get(name, []))):
                lines.append(f"virt-scratch {name} " + "x " * index + f"{tmp}/")
        replies = completer.complete(lines)

        offered = replies["virt-scratch "]
        missing = [c for c in commands if c not in offered]
        check(not missing and bool(commands), "'virt-scratch ' offers every command"
              + (": missing " + " ".join(missing) if missing else ""))
        check(set(replies["virt-scratch --"]) == {"--help", "--version"},
              f"'virt-scratch --' offers --help and --version: {replies['virt-scratch --']}")
        files = {f"{tmp}/disk.qcow2", f"{tmp}/sparse.raw", f"{tmp}/subdir"}
        for name, options in helps.items():
            expected = set(options) | ({"--daemon"} if name == "export" else set())
            got = set(replies[f"virt-scratch {name} --"])
            check(got == expected, f"'virt-scratch {name} --' offers its options"
                  + ("" if got == expected else f": missing {sorted(expected - got)}, "
                     f"unknown {sorted(got - expected)}"))
            again = replies[f"virt-scratch {name} --help --"]
            check("--help" not in again and len(again) == len(got) - 1,
                  f"'virt-scratch {name} --help --' offers no option twice")
            for option, (takes_value, description) in options.items():
                if not takes_value:
                    continue
                line = f"virt-scratch {name} {option} "
                values = replies[line]
                split = replies[line[:-1] + "="]
                if option in FIXED:
                    named = [v for v in FIXED[option] if re.search(rf"\b{v}\b", description)]
                    check(named == FIXED[option], f"'{name} --help' names {option}'s values "
                          f"{FIXED[option]}: {description!r}")
                    check(values == FIXED[option] and split == FIXED[option],
                          f"'{line}' and '{option}=' offer {FIXED[option]}: {values}, {split}")
                elif option in RANGES:
                    check(values == RANGES[option], f"'{line}' offers {RANGES[option]}: {values}")
                elif option in FREE:
                    check(values == [], f"'{line}' offers nothing: {values}")
                elif option in PATHS:
                    paths = set(replies[line + f"{tmp}/"])
                    want = {f"{tmp}/subdir"} if PATHS[option] == "dir" else files
                    check(paths == want, f"'{line}{tmp}/' offers {sorted(want)}: {sorted(paths)}")
                else:
                    check(False, f"{name} {option} takes a value this test does not know: add it "
                          "to FIXED, RANGES, FREE or PATHS, and to the completion")
            for index, kind in enumerate(POSITIONALS.get(name, [])):
                line = f"virt-scratch {name} " + "x " * index + f"{tmp}/"
                got = set(replies[line])
                want = files if kind == "file" else set()
                check(got == want, f"argument {index + 1} of '{name}' offers "
                      f"{'files' if kind else 'nothing'}: {sorted(got)}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
