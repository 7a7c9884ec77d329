"""Large JSON answers written in chunks: the bytes of one encode, never held all at once.

A :class:`StreamedJSON` is a wire Struct (the *head*) whose large lists are produced a
batch at a time. :meth:`StreamedJSON.chunks` encodes the head with a unique placeholder in
each such list, then writes the head around batches encoded on demand, so the body is byte
for byte what encoding the whole Struct would give (the tests compare the two), while the
largest thing in memory is one batch. Routes answer it as a streamed response.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

import msgspec

__all__ = ["STREAM_MIN_ITEMS", "StreamedJSON", "batched"]

#: Answers with at least this many items in their large lists are streamed.
STREAM_MIN_ITEMS: Final = 2_000
_ENCODER: Final = msgspec.json.Encoder()


def batched(items: Sequence[Any], size: int = 500) -> Callable[[], Iterator[Sequence[Any]]]:
    """Return a factory of ``size``-item slices of a sequence (for :class:`StreamedJSON`)."""

    def batches() -> Iterator[Sequence[Any]]:
        iterator = iter(items)
        while batch := list(islice(iterator, size)):
            yield batch

    return batches


@dataclass(frozen=True, slots=True)
class StreamedJSON:
    """A wire Struct with lists that are encoded a batch at a time.

    Attributes
    ----------
    head : msgspec.Struct
        The answer; the fields named in ``lists`` are ignored (replaced when encoding).
    lists : dict of str to callable
        Field name → a function returning the field's items in batches (each batch a
        sequence of Structs or JSON-ready objects).
    """

    head: msgspec.Struct
    lists: dict[str, Callable[[], Iterable[Sequence[Any]]]]

    def chunks(self) -> Iterator[bytes]:
        """Yield the JSON body in pieces (a batch of a list, or the head between lists)."""
        nonce = uuid.uuid4().hex
        markers = {name: f"\x00cleanapp-stream:{name}:{nonce}\x00" for name in self.lists}
        head = _ENCODER.encode(
            msgspec.structs.replace(self.head, **{n: [m] for n, m in markers.items()})
        )
        placeholders = {name: _ENCODER.encode([marker]) for name, marker in markers.items()}
        positions = sorted((head.index(placeholders[name]), name) for name in self.lists)
        start = 0
        for position, name in positions:
            yield head[start:position] + b"["
            first = True
            for batch in self.lists[name]():
                if not batch:
                    continue
                encoded = _ENCODER.encode(list(batch))[1:-1]
                yield encoded if first else b"," + encoded
                first = False
            yield b"]"
            start = position + len(placeholders[name])
        yield head[start:]

    def body(self) -> bytes:
        """Return the whole body at once (what :meth:`chunks` streams)."""
        return b"".join(self.chunks())
