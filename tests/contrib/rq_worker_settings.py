"""Settings of the RQ worker process of tests/contrib/test_tasks_rq.py.

The Celery worker's settings (the PostgreSQL aliases of the test session, LSN routing)
with django-rq installed, its queue on the session's Redis, and the tasks backend.
"""

from __future__ import annotations

import os

from tests.contrib.worker_settings import *  # noqa: F403
from tests.contrib.worker_settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
RQ_QUEUES = {"default": {"URL": os.environ["MULTIDB_ROUTERS_TEST_BROKER"]}}
TASKS = {"rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
