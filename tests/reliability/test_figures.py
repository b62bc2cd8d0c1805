"""The figures table counts what each trial block did, including a trial that failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.figures import Figures, table


def test_a_trial_that_raises_is_counted_as_not_held(tmp_path: Path) -> None:
    figures = Figures(tmp_path / "figures.jsonl")
    with figures.trial("fault", "a fault the product survives", tried=3):
        pass
    with pytest.raises(AssertionError), figures.trial("secret scan", "a leaking log"):
        raise AssertionError("leak")

    lines = table(figures.path)

    assert "| faults injected / survived | 1 | 3 | 3 | 0 |" in lines
    assert "| places scanned for secrets / clean | 1 | 1 | 0 | 1 |" in lines
    assert "not held: secret scan: a leaking log" in lines
