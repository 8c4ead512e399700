"""The load-and-fault test of ``make loadtest`` (``python -m benchmarks.loadtest``).

The example project's primary/replica pattern, with its reviews on the test suite's
PostgreSQL primary and its lagging standby, served by gunicorn (WSGI) and uvicorn (ASGI);
writing clients post reviews and read them back while the standby is stopped and the
primary crashes. See ``docs/benchmarks.rst`` ("Load test").
"""

from __future__ import annotations

# Set by served.ServedByMiddleware on every response, read by the clients.
READ_HEADER = "X-Loadtest-Read"
ERROR_HEADER = "X-Loadtest-Error"
