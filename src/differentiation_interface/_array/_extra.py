"""What the library takes from array-api-extra (only the array layer imports it)."""

from __future__ import annotations

from array_api_extra import at

__all__ = ["at"]
