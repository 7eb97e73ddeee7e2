"""docs/protocol.md and the codec cannot drift: its examples are parsed and checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roost.protocol import (
    SUBPROTOCOLS,
    BadEnvelope,
    EnvelopeCodec,
    EnvelopeError,
    ErrorCode,
    envelope_error_for,
)

from .test_envelope import EXAMPLES, reader

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_EXAMPLE = re.compile(r"^### Example: (?P<name>.+?)\n(?P<body>.*?)(?=^#)", re.M | re.S)
_BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<text>.*?)^```$", re.M | re.S)


def doc_examples() -> dict[str, tuple[str | None, bytes]]:
    """Each ``### Example:`` of the document: its JSON text (if any) and its CBOR bytes."""
    examples: dict[str, tuple[str | None, bytes]] = {}
    for match in _EXAMPLE.finditer(DOC.read_text(encoding="utf-8")):
        blocks = {b["lang"]: b["text"] for b in _BLOCK.finditer(match["body"])}
        assert set(blocks) <= {"json", "cbor"}, match["name"]
        text = blocks["json"].removesuffix("\n") if "json" in blocks else None
        hexa = "".join(line.split("#")[0] for line in blocks["cbor"].splitlines())
        examples[match["name"]] = (text, bytes.fromhex(hexa))
    return examples


def test_the_document_shows_exactly_the_tested_examples() -> None:
    shown = doc_examples()
    assert list(shown) == list(EXAMPLES)
    for name, (text, data) in shown.items():
        _, tested_text, tested_hex = EXAMPLES[name]
        assert (text, data) == (tested_text, bytes.fromhex(tested_hex)), name


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_documented_example_encodes_and_decodes(name: str) -> None:
    record = EXAMPLES[name][0]
    text, data = doc_examples()[name]
    assert EnvelopeCodec("cbor").encode(record) == data
    assert reader(record, "cbor").decode(data) == record
    if text is not None:
        assert EnvelopeCodec("json").encode(record) == text
        assert reader(record, "json").decode(text) == record


def doc_refusals() -> list[tuple[str, str | bytes, str]]:
    """The ``refusals`` block: (kind, message, outcome) per line."""
    (block,) = [b["text"] for b in _BLOCK.finditer(DOC.read_text()) if b["lang"] == "refusals"]
    refusals: list[tuple[str, str | bytes, str]] = []
    for line in block.splitlines():
        kind, rest = line.split(maxsplit=1)
        payload, outcome = (part.strip() for part in rest.rsplit(" -> ", 1))
        refusals.append((kind, payload if kind == "json" else bytes.fromhex(payload), outcome))
    return refusals


def test_the_documented_refusals() -> None:
    refusals = doc_refusals()
    assert len(refusals) >= 20
    for kind, message, outcome in refusals:
        codec = EnvelopeCodec(kind)  # type: ignore[arg-type]
        with pytest.raises(EnvelopeError) as info:
            codec.decode(message)
        decision = envelope_error_for(info.value)
        if outcome.startswith("close "):
            assert decision == (int(outcome.split()[1]), info.value.reason), message
        else:
            code, call_id = outcome.split()
            assert isinstance(info.value, BadEnvelope), message
            assert decision.code == code, message  # type: ignore[union-attr]
            assert decision.id == (None if call_id == "null" else int(call_id)), message  # type: ignore[union-attr]


def test_the_document_states_the_names_codes_and_limits() -> None:
    doc = DOC.read_text()
    for name in SUBPROTOCOLS:
        assert f"`{name}`" in doc
    for code in ErrorCode:
        assert f"| `{code.value}` |" in doc
        assert f"| {code.http_status} |" in doc
    codec = EnvelopeCodec("json")
    assert f"| `max_depth` | {codec.max_depth} |" in doc
    assert f"| `max_items` | {codec.max_items:,} |" in doc
    assert f"| `max_total_items` | {codec.max_total_items:,} |" in doc
    assert codec.max_size == 1 << 20 and "| `max_size` | 1 MiB |" in doc
    for close_code in (1003, 1007, 1009):
        assert f"close **{close_code}**" in doc
