"""``json_depth`` against a plain byte-by-byte reference (brackets inside strings skipped)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from cleanapp_api.common.json_body import json_depth


def reference_depth(body: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside string literals, scanning one byte at a time."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


_TEXT = st.text(alphabet=st.sampled_from('ab[]{}"\\/ \u00e9'), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=40,
)


@given(_JSON)
def test_json_depth_matches_the_reference_on_json_documents(value: object) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth(body) == reference_depth(body)


@given(st.binary(max_size=200).filter(lambda b: b'"' not in b))
def test_json_depth_matches_the_reference_on_bytes_without_strings(body: bytes) -> None:
    # Unbalanced closers may drive the running depth below zero; the answer is still the
    # deepest point reached (at least 0).
    assert json_depth(body) == reference_depth(body)
