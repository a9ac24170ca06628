"""Format the code cells of the book's MyST notebooks to fit the code box.

The code box shows 73 characters at 1280 px (measured in Chromium), so cells are formatted
by ruff at line length 72 (the browser test measures what is left: long expressions in
f-strings, for example)::

    python tools/format_cells.py book/ch04_convergence.md [...]      # rewrite in place
    python tools/format_cells.py --check book/*.md                    # list lines > 72
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
from pathlib import Path

WIDTH = 72
# a cell: its fence line, its options (a YAML block, or ":key: value" lines), its code
CELL = re.compile(
    r"^(```\{code-cell\}[^\n]*\n)(---\n.*?\n---\n|(?::[^\n]*\n)+)?(.*?)^```$", re.S | re.M
)


def _ruff(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", f"--line-length={WIDTH}", "-"],
        input=code,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # e.g. IPython magics: leave the cell as it is
        return code
    return done.stdout


def _wrap_comments(code: str) -> str:
    """Wrap comment lines longer than the box (ruff leaves comments alone)."""
    out = []
    for line in code.splitlines(keepends=True):
        stripped = line.lstrip()
        if len(line.rstrip("\n")) > WIDTH and stripped.startswith("# "):
            indent = line[: len(line) - len(stripped)]
            out += [
                s + "\n"
                for s in textwrap.wrap(
                    stripped[2:].rstrip("\n"),
                    WIDTH,
                    initial_indent=indent + "# ",
                    subsequent_indent=indent + "# ",
                    break_long_words=False,
                )
            ]
        else:
            out.append(line)
    return "".join(out)


STRING_LINE = re.compile(r'^(\s*)(f?)"(?!")(.*)(?<!")"(,?)\n?$')


def _split_strings(code: str) -> str:
    """Split a long line that is one string literal (an argument on its own line, as ruff
    leaves it) into adjacent literals at a space outside ``{...}``."""
    out = []
    for line in code.splitlines(keepends=True):
        while len(line.rstrip("\n")) > WIDTH and (m := STRING_LINE.match(line)):
            indent, f, body, comma = m.groups()
            room = WIDTH - len(indent) - len(f) - 2
            depth, cut = 0, -1
            for i, ch in enumerate(body[:room]):
                depth += (ch == "{") - (ch == "}")
                if ch == " " and depth == 0 and i > 0:
                    cut = i + 1
            if cut <= 0:
                break
            head, tail = body[:cut], body[cut:]
            f_head = f if "{" in head else ""
            f_tail = f if "{" in tail else ""
            out.append(f'{indent}{f_head}"{head}"\n')
            line = f'{indent}{f_tail}"{tail}"{comma}\n'
        out.append(line)
    return "".join(out)


def format_text(text: str) -> str:
    def one(m: re.Match) -> str:
        head, meta, body = m.group(1), m.group(2) or "", m.group(3)
        code = _split_strings(_wrap_comments(_ruff(body)))
        if meta.startswith(":"):  # one blank line between ":key:" options and the code
            code = "\n" + code.lstrip("\n")
        return head + meta + code + "```"

    return CELL.sub(one, text)


# code shown but not executed (e.g. inside a solution)
SHOWN = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def long_lines(text: str) -> list[tuple[int, int]]:
    """(line number, length) of every code line wider than the box, cells and shown code."""
    out = []
    for pattern, group in ((CELL, 3), (SHOWN, 1)):
        for m in pattern.finditer(text):
            start = text.count("\n", 0, m.start(group)) + 1
            for i, line in enumerate(m.group(group).splitlines()):
                if len(line) > WIDTH:
                    out.append((start + i, len(line)))
    return sorted(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only list lines > 72")
    args = parser.parse_args()
    found = 0
    for path in args.files:
        text = path.read_text()
        if not args.check:
            new = format_text(text)
            if new != text:
                path.write_text(new)
            text = new
        for line, n in long_lines(text):
            print(f"{path}:{line}: {n} characters")
            found += 1
    return 1 if (args.check and found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
