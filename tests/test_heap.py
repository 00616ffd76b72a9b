"""The running bot keeps the cyclic collector off its long-lived heap (bot/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot import heap


class Node:
    """A cycle: freed only by the cyclic collector, never by reference counting."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def thawed() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector afterwards (the test process is not
    a bot)."""
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_frozen_objects_are_left_out_of_collections_and_refreezing_frees_old_cycles() -> None:
    node = Node()
    alive = weakref.ref(node)
    assert heap.freeze() >= 1  # the archive, the libraries, and this node: frozen
    del node
    gc.collect()
    assert alive() is not None  # a full collection no longer walks it
    heap.refreeze()  # e.g. a reloaded archive replaced it: unfrozen, collected, frozen again
    assert alive() is None
    assert gc.get_freeze_count() >= 1
