"""Integrations with job queues, django-debug-toolbar and other packages (each imported on demand)."""
