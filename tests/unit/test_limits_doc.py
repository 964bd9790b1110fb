"""docs/security.md lists every named limit with its current value."""

from tests.support.limits_doc import DOC, END, START, entries, rewrite


def test_security_doc_lists_every_limit_as_in_limits_py() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert START in text, "docs/security.md lost its limits table markers"
    assert END in text, "docs/security.md lost its limits table markers"
    assert text == rewrite(text), (
        "docs/security.md's limits table is out of date: run `python -m tests.support.limits_doc`"
    )


def test_every_limit_says_what_it_bounds() -> None:
    unexplained = [name for _, name, _, meaning in entries() if not meaning]
    assert not unexplained, f"limits without a docstring in limits.py: {unexplained}"
