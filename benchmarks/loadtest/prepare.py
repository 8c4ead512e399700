"""``python -m benchmarks.loadtest.prepare``: migrate the load test's databases, add products.

Run once per load test, with the environment of ``benchmarks/loadtest/settings.py``:
``migrate_all`` creates the reviews table on the primary (the standby receives it by
replication) and Django's tables and the products on the SQLite ``default``.
"""

from __future__ import annotations

import os
import sys
from io import StringIO


def main() -> int:
    """Migrate every alias, seed the products, print their slugs one per line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.loadtest.settings")
    import django

    django.setup()
    from demo.seed import seed_products
    from django.core.management import call_command

    call_command("migrate_all", interactive=False, verbosity=0, stdout=StringIO())
    for product in seed_products():
        print(product.slug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
