"""Type stubs of the compiled core (ext/_core.pyx); shingles/_reference.py has the same API."""

from typing_extensions import disjoint_base

from shingles.scheme import Scheme

@disjoint_base
class LexiconTable:
    min_terms: int
    signatures: int
    def __init__(self, terms: bytes, masks: bytes, min_terms: int, signatures: int) -> None: ...

@disjoint_base
class State:
    def __init__(self, scheme: Scheme, lexicon: LexiconTable | None = None,
                 keep_tokens: bool = False) -> None: ...
    def feed(self, text: str) -> None: ...
    def finish(self) -> tuple[int, int, int, bytes, bytes, bytes, tuple[int, ...]]: ...
    def token_set(self) -> bytes: ...
