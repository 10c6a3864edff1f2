"""Every test in this folder needs the real system (Asterisk + controller): marked `integration`
(pyproject.toml), so `-m integration` / `-m "not integration"` select them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)
