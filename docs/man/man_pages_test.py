#!/usr/bin/python3
"""Checks of the manual pages, run by ctest (docs/man/CMakeLists.txt, label docs).

  man_pages_test.py render PAGE
      man -l (MANWIDTH=80), groff -man -ww and man --warnings (as lintian runs it) render PAGE
      with nothing on stderr, every line of man's output fits in 80 columns, and no
      @PLACEHOLDER@ was left unconfigured.
  man_pages_test.py commands VIRT_SCRATCH PAGE
      every command that `virt-scratch --help` lists has a subsection in PAGE, and every option
      of its `--help` an entry there (and `export --daemon` its own); PAGE documents no command
      or option the binary does not have.
  man_pages_test.py daemon VIRT_SCRATCHD PAGE
      every option of `virt-scratchd --help` is an entry of PAGE's OPTIONS, and only those.
  man_pages_test.py config CONF CONFIG_CPP PAGE
      every key of CONF (the commented default configuration) and of the daemon's reader
      (CONFIG_CPP's key table) is an entry of its group's subsection in PAGE, with
      "Default: VALUE" as CONF shows it ("empty" for an empty value); PAGE documents no key the
      reader does not know.

Pages are read as roff source with the small subset of the man macros they use: .SH and .SS
make the sections, .TP entries (nested ones inside .RS/.RE belong to the entry around them) have
a tag line and a body. Prints what it checked, and each problem; exits 1 on any.
"""
import os
import re
import subprocess
import sys

FONT_SINGLE = {"B", "I", "SM", "SB", "SH", "SS"}
FONT_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}

problems = []


def problem(text):
    problems.append(text)
    print("FAIL: " + text)


def macro_args(text):
    """Splits a macro line's arguments as troff does: spaces, "quoted" words, "" inside quotes."""
    args, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        if text[i] == '"':
            i += 1
            word = ""
            while i < len(text):
                if text[i] == '"' and text[i + 1:i + 2] == '"':
                    word += '"'
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    word += text[i]
                    i += 1
            args.append(word)
        else:
            end = text.find(" ", i)
            end = len(text) if end < 0 else end
            args.append(text[i:end])
            i = end
    return args


def unescape(text):
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    for escape, plain in (("\\-", "-"), ("\\&", ""), ("\\%", ""), ("\\c", ""), ("\\:", "")):
        text = text.replace(escape, plain)
    text = text.replace("\\(aq", "'").replace("\\(em", "--").replace("\\e", "\\")
    return text


def parse_line(line):
    """Returns (macro or None, text)."""
    if line.startswith(".") or line.startswith("'"):
        match = re.match(r"[.'](\S*)\s*(.*)", line)
        name, rest = match.group(1), match.group(2)
        args = macro_args(rest)
        if name in FONT_SINGLE:
            return name, unescape(" ".join(args))
        if name in FONT_ALTERNATING:
            return name, unescape("".join(args))
        return name, ""
    return None, unescape(line)


class Entry:
    def __init__(self, section, subsection, tag):
        self.section, self.subsection, self.tag = section, subsection, tag
        self.body = []

    def text(self):
        return " ".join(" ".join(self.body).split())


def read_page(path):
    """The page's sections: a list of (section, subsection, intro text, [Entry])."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    parts = []
    section = subsection = None
    entry = None
    depth = 0
    expect_tag = False
    for line in lines:
        if line.startswith('.\\"') or line.startswith("'\\\""):
            continue
        name, text = parse_line(line)
        if expect_tag:
            expect_tag = False
            entry = Entry(section, subsection, text)
            parts[-1][3].append(entry)
            continue
        if name == "SH":
            section, subsection, entry, depth = text, None, None, 0
            parts.append([section, None, [], []])
        elif name == "SS":
            subsection, entry, depth = text, None, 0
            parts.append([section, subsection, [], []])
        elif name == "RS":
            depth += 1
        elif name == "RE":
            depth = max(depth - 1, 0)
        elif name == "TP" and depth == 0 and parts:
            expect_tag = True
        elif name == "PP" and depth == 0:
            entry = None
        elif text and parts:
            (entry.body if entry else parts[-1][2]).append(text)
    return parts


def subsections(parts, sections=None):
    return {p[1]: p for p in parts if p[1] is not None and (sections is None or p[0] in sections)}


def help_options(text):
    """The options an option list of a --help text names ("  --size SIZE   ...", "  -h, --help")."""
    options = []
    for line in text.splitlines():
        match = re.match(r"  (?:-[a-z], )?(--[a-z][a-z0-9-]*)", line)
        if match:
            options.append(match.group(1))
    return options


def run(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as e:
        problem(f"cannot run {argv[0]}: {e}")
        return ""
    if result.returncode != 0:
        problem(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def tag_options(tag):
    return [w.rstrip(",") for w in tag.split() if w.startswith("-")]


def check_render(page):
    env = dict(os.environ)
    env.pop("MAN_KEEP_FORMATTING", None)
    env.update(MANWIDTH="80", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    with open(page, encoding="utf-8") as f:
        source = f.read()
    for placeholder in sorted(set(re.findall(r"@[A-Za-z_]+@", source))):
        problem(f"{page}: {placeholder} was not configured")
    man = subprocess.run(["man", "-l", page], capture_output=True, text=True, env=env, check=False)
    if man.returncode != 0 or man.stderr:
        problem(f"man -l {page} (exit {man.returncode}) said: {man.stderr.strip()}")
    if "NAME" not in man.stdout or len(man.stdout.splitlines()) < 10:
        problem(f"man -l {page} printed no page: {man.stdout[:200]!r}")
    for number, line in enumerate(man.stdout.splitlines(), 1):
        if len(line) > 80:
            problem(f"man -l {page}: line {number} is {len(line)} columns wide: {line.strip()}")
    # groff with every warning, and man --warnings as lintian runs it (its groff-message check).
    for argv in (["groff", "-man", "-ww", "-z", "-Tutf8", page],
                 ["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0 or result.stderr:
            problem(f"{' '.join(argv)} (exit {result.returncode}) said: {result.stderr.strip()}")
    print(f"rendered {page}: {len(man.stdout.splitlines())} lines")


COMMAND_SECTIONS = {"IMAGE COMMANDS", "CLIENT COMMANDS", "DOMAIN COMMANDS"}


def check_commands(binary, page):
    usage = run([binary, "--help"])
    match = re.search(r"^Commands:\n((?:  \S.*\n)+)", usage, re.M)
    commands = [line.split()[0] for line in match.group(1).splitlines()] if match else []
    if not commands:
        problem(f"'{binary} --help' lists no commands:\n{usage}")
        return
    parts = read_page(page)
    documented = subsections(parts, COMMAND_SECTIONS)
    helps = {c: run([binary, c, "--help"]) for c in commands}
    if "export" in commands:
        helps["export --daemon"] = run([binary, "export", "--daemon", "--help"])
    for name, text in helps.items():
        options = [o for o in help_options(text) if o != "--help"]
        if not options and name not in ("list", "show", "status", "metrics"):
            problem(f"'{binary} {name} --help' lists no options:\n{text}")
        if name not in documented:
            problem(f"{page} has no subsection (.SS) for the command '{name}'")
            continue
        tags = [o for e in documented[name][3] for o in tag_options(e.tag)]
        for option in options:
            if option not in tags:
                problem(f"{page}: '{name}' has no entry (.TP) for its option {option}")
        # `export --daemon` is a command of its own, dispatched before export's options are read.
        extra = ["--daemon"] if name == "export" else []
        for option in tags:
            if option not in options + extra:
                problem(f"{page}: '{name}' documents {option}, which '{name} --help' does not list")
        print(f"{name}: {len(options)} options documented")
    for name in documented:
        if name not in helps:
            problem(f"{page} documents a command '{name}' that '{binary} --help' does not list")
    synopsis = " ".join(t for p in parts if p[0] == "SYNOPSIS" for t in p[2])
    for word in ("--version", "--help"):
        if word not in synopsis:
            problem(f"{page}: SYNOPSIS does not show {word}")


def check_daemon(binary, page):
    options = help_options(run([binary, "--help"]))
    if not options:
        problem(f"'{binary} --help' lists no options")
    entries = [e for p in read_page(page) if p[0] == "OPTIONS" for e in p[3]]
    tags = [o for e in entries for o in tag_options(e.tag)]
    for option in options:
        if option not in tags:
            problem(f"{page}: OPTIONS has no entry for {option}")
    for option in tags:
        if option not in options and option != "-h":
            problem(f"{page} documents {option}, which '{binary} --help' does not list")
    print(f"virt-scratchd: {len(options)} options documented")


def conf_keys(conf):
    """{(group, key): default} of the commented configuration (#key = value, or key = value)."""
    keys, group = {}, None
    with open(conf, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            header = re.match(r"\[([^\]]+)\]\s*$", line)
            if header:
                group = header.group(1)
                continue
            match = re.match(r"#?([a-z][a-z0-9-]*)\s*=\s*(.*)$", line)
            if match and group:
                keys[(group, match.group(1))] = match.group(2).strip()
    return keys


def reader_keys(config_cpp):
    """(group, key) of the daemon's key table: {"pool", "path", ...} entries."""
    with open(config_cpp, encoding="utf-8") as f:
        return set(re.findall(r'\{"([a-z_]+)",\s*"([a-z0-9-]+)",', f.read()))


def check_config(conf, config_cpp, page):
    defaults = conf_keys(conf)
    known = reader_keys(config_cpp)
    if not defaults:
        problem(f"no keys found in {conf}")
    if not known:
        problem(f"no key table found in {config_cpp} (the test reads its {{\"group\", \"key\", "
                "...}} entries: update it with the reader)")
    for key in sorted(set(defaults) - known):
        problem(f"{conf} shows [{key[0]}] {key[1]}, which the daemon's reader does not know")
    documented = {}
    for part in read_page(page):
        if part[0] != "OPTIONS" or part[1] is None:
            continue
        group = part[1].strip("[]")
        for entry in part[3]:
            documented[(group, entry.tag.split()[0])] = entry
    for key in sorted(set(defaults) | known):
        entry = documented.get(key)
        if entry is None:
            problem(f"{page} has no entry for [{key[0]}] {key[1]} (in .SS [{key[0]}])")
            continue
        if key in defaults:
            shown = defaults[key] or "empty"
            if f"Default: {shown}" not in entry.text():
                problem(f"{page}: [{key[0]}] {key[1]} does not say 'Default: {shown}', as "
                        f"{os.path.basename(conf)} does")
        elif "Default:" not in entry.text():
            problem(f"{page}: [{key[0]}] {key[1]} names no default")
    for key in sorted(set(documented) - known):
        problem(f"{page} documents [{key[0]}] {key[1]}, which the daemon's reader does not know")
    print(f"virt-scratchd.conf: {len(set(defaults) | known)} keys documented")


def main(argv):
    checks = {"render": (check_render, 1), "commands": (check_commands, 2),
              "daemon": (check_daemon, 2), "config": (check_config, 3)}
    if len(argv) < 2 or argv[1] not in checks or len(argv) - 2 != checks[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    checks[argv[1]][0](*argv[2:])
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
