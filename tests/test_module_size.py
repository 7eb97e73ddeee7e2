"""No module of the package over MAX_LINES lines without a reason at its top (issue 13).

A module says why it is long with a paragraph of its module docstring that starts with
``Long because`` (CONTRIBUTING.md, "Long modules"). The reason is for the reader who meets a
big file: it says why it is one module, or it should be two.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layers import discover

MAX_LINES = 400
MARKER = "Long because"

#: Long modules that still owe a reason (their owners are editing them). An entry leaves once
#: the module is short or has its reason: test_waiting_list_is_still_real sees to it.
WAITING_FOR_A_REASON: frozenset[str] = frozenset()


def gives_a_reason(source: str) -> bool:
    """Whether the module docstring has a paragraph that starts with the marker."""
    docstring = ast.get_docstring(ast.parse(source), clean=True) or ""
    paragraphs = (p.strip() for p in docstring.split("\n\n"))
    return any(p.startswith(MARKER) for p in paragraphs)


def long_without_reason(modules: dict[str, Path]) -> dict[str, int]:
    found = {}
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_LINES and not gives_a_reason(source):
            found[name] = lines
    return found


def test_long_modules_say_why() -> None:
    missing = long_without_reason(discover())
    assert {n: c for n, c in missing.items() if n not in WAITING_FOR_A_REASON} == {}


def test_waiting_list_is_still_real() -> None:
    """A module that got short, or got its reason, leaves the list (so it hides nothing)."""
    assert set(WAITING_FOR_A_REASON) <= set(long_without_reason(discover()))


def test_the_reason_must_open_a_paragraph_of_the_module_docstring(tmp_path: Path) -> None:
    long_body = "x = 1\n" * (MAX_LINES + 1)
    cases = {
        "roost.with_reason": '"""Title.\n\nLong because: one state machine.\n"""\n' + long_body,
        "roost.no_docstring": long_body,
        "roost.in_a_comment": "# Long because: a comment is not the docstring\n" + long_body,
        "roost.mid_sentence": '"""Title. It is not Long because it says so.\n"""\n' + long_body,
        "roost.short": '"""Title."""\nx = 1\n',
    }
    modules = {}
    for name, text in cases.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        modules[name] = path
    assert long_without_reason(modules) == {
        "roost.no_docstring": MAX_LINES + 1,
        "roost.in_a_comment": MAX_LINES + 2,
        "roost.mid_sentence": MAX_LINES + 3,
    }
