"""Integrations with job queues and other third-party frameworks (each imported on demand)."""
