"""The suite itself: pytest imports test files by their base name (no packages here), so two
test files of one name in different folders stop the whole run at collection."""

from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.abspath(__file__))


def test_no_two_test_files_share_a_name():
    seen = collections.defaultdict(list)
    for folder, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen[name].append(os.path.relpath(os.path.join(folder, name), TESTS))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
