"""Integrations with other packages (each imported only by who uses it)."""
