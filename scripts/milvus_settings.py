"""Refuse a milvus.yaml setting that the Milvus server would ignore (scripts/milvus.sh start runs this).

    python scripts/milvus_settings.py [--template FILE] KEY=VALUE ...

The milvus wheel's ``milvus-server --extra-config KEY=VALUE`` rewrites the line of its config template
whose dotted path is KEY, and silently drops a KEY that names no line: a misspelt setting (say
``dataCoord.enableAutoCompaction``, where the template has ``dataCoord.compaction.enableAutoCompaction``)
would leave the default in force, unnoticed. This prints each such setting and exits 1; exit 0 when every
KEY is one of the template's. FILE defaults to the template inside the installed ``milvus`` package, so
run it with the Python of the server's virtual environment.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# A "key:" line of the template, as the wheel's wrapper reads it: two spaces an indentation level.
KEY_LINE = re.compile(r"^( *)([A-Za-z0-9_]+):")


def template_keys(text: str) -> set[str]:
    """Every dotted path (``dataCoord.gc.interval``) that a line of a milvus.yaml template names."""
    keys: set[str] = set()
    path: list[str] = []
    for line in text.splitlines():
        found = KEY_LINE.match(line)
        if found is None:  # comments, list items, blank lines and continuations name no key
            continue
        level = len(found.group(1)) // 2
        path = [*path[:level], found.group(2)]
        keys.add(".".join(path))
    return keys


def refused(settings: list[str], keys: set[str]) -> list[str]:
    """Why each of ``settings`` would not take effect; empty when all would."""
    problems = []
    for setting in settings:
        key, equals, _ = setting.partition("=")
        if not equals or not key:
            problems.append(f"{setting!r} is not KEY=VALUE")
        elif key not in keys:
            problems.append(f"{key!r} is not a setting of milvus.yaml (the server would ignore it)")
    return problems


def installed_template() -> Path:
    import milvus  # the server wheel, in the virtual environment scripts/milvus.sh installs

    return Path(milvus.__file__).parent / "data" / "config.yaml.template"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--template", type=Path, default=None, help="the config template (default: the milvus package's)")
    ap.add_argument("settings", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args()
    template = args.template or installed_template()
    problems = refused(args.settings, template_keys(template.read_text(encoding="utf-8")))
    for problem in problems:
        print(f"milvus.sh: FACESEARCH_MILVUS_CONFIG: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
