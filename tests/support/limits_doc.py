"""The table of every named limit in docs/security.md, generated from tasuke.limits.

`python -m tests.support.limits_doc` rewrites the table between the markers; the test
tests/unit/test_limits_doc.py fails when the doc and limits.py disagree, so the two are
never kept by hand.
"""

import ast
import sys
from pathlib import Path

import tasuke.limits

__all__ = ["DOC", "END", "START", "entries", "render", "rewrite"]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
START = "<!-- limits:start (generated from src/tasuke/limits.py) -->"
END = "<!-- limits:end -->"
_UNITS = {"KIB", "MIB"}


def entries() -> list[tuple[str, str, str, str]]:
    """(section, name, value, meaning) for each limit, in the order of limits.py."""
    source = Path(tasuke.limits.__file__).read_text(encoding="utf-8")
    lines = source.splitlines()
    body = ast.parse(source).body
    entries: list[tuple[str, str, str, str]] = []
    for index, node in enumerate(body):
        if not isinstance(node, ast.AnnAssign | ast.Assign):
            continue
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        if not isinstance(target, ast.Name) or target.id in _UNITS:
            continue
        meaning = ""
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            meaning = " ".join(following.value.value.split())
        section = ""
        for line in reversed(lines[: node.lineno - 1]):
            if line.startswith("# ---"):
                section = line.strip("# -")
                break
        value = ast.get_source_segment(source, node.value) if node.value is not None else ""
        entries.append((section, target.id, value or "", meaning))
    return entries


def render() -> str:
    """The Markdown table of all limits, grouped by the sections of limits.py."""
    out = ["| limit | value | meaning |", "|---|---|---|"]
    current = None
    for section, name, value, meaning in entries():
        if section != current:
            out.append(f"| **{section}** | | |")
            current = section
        shown, said = value.replace("|", "\\|"), meaning.replace("|", "\\|")
        out.append(f"| `{name}` | `{shown}` | {said} |")
    return "\n".join(out)


def rewrite(text: str) -> str:
    """``text`` (the doc) with the generated table between the markers."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(rewrite(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.exit(0)
