"""The shared store's error lives in the one exception tree (``roost._errors``)."""

from __future__ import annotations

from roost._errors import StoreUnavailable

__all__ = ["StoreUnavailable"]
