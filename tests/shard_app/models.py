"""Models of the shard_app tests."""

from __future__ import annotations
