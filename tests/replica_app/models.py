"""Models of the replica_app tests."""

from __future__ import annotations
