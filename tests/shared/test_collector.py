"""A started service's garbage collector: start-up's objects frozen, the young generation
collected rarely."""

from __future__ import annotations

import gc

from shared import service


def test_a_started_service_freezes_its_start_up_and_collects_the_young_rarely() -> None:
    kept = gc.get_threshold()
    try:
        service.settle_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (service.GC_YOUNG_THRESHOLD, 50, 50)
        assert service.GC_YOUNG_THRESHOLD >= 10 * 700  # the interpreter's default, 700
    finally:
        gc.unfreeze()
        gc.set_threshold(*kept)
