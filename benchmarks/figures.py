"""Figures with their units, as results.json keeps them."""

from __future__ import annotations

from typing import Any


def fig(value: float | int | None, unit: str) -> dict[str, Any]:
    """One measured figure: ``{"value": ..., "unit": ...}`` (floats to 4 significant digits)."""
    if isinstance(value, float):
        value = float(f"{value:.4g}")
    return {"value": value, "unit": unit}


def value(figure: dict[str, Any] | None) -> Any:
    return None if figure is None else figure.get("value")


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
