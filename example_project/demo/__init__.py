"""The ``demo`` command: migrate, seed and walk through the example's routing."""
