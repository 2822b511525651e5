"""PHI's partition schemes: the ways of cutting a network into modules (harness.measurements.modules).

Constants only (no torch), so the registry schema can name them without importing the measurement code.
"""

from __future__ import annotations

PARTITION_SCHEMES = ("layer", "channel_groups", "positions", "attention_heads")
"""PHI's ways of cutting a network into modules (see harness.measurements.modules)."""
