"""Suite-wide ordering for the parallel run (`make test` runs pytest-xdist with `--dist loadscope`).

The production-topology and browser tests take minutes each, mostly waiting on daemons, sensors and run
workers rather than computing. Collected last (their folders sort late), they would start only when
everything else had finished and the suite would take their time on top of the rest; moved to the front,
the two workers start them first, one each, and share the short tests while they wait.
"""

import pytest

LONG_MARKERS = ("topology", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for i, marker in enumerate(LONG_MARKERS):
            if item.get_closest_marker(marker) is not None:
                return i
        return len(LONG_MARKERS)

    items.sort(key=rank)  # stable: every other test keeps its collection order
