"""Integrations with job queues, django-debug-toolbar and others (each imported on demand)."""
