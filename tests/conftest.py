"""Fixtures shared by the whole test suite."""

from __future__ import annotations
