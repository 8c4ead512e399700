"""Moving rows between databases without losing any: batches, checksums, progress.

Internal: the ``move_rows`` and ``reshard`` management commands are built on it.
"""

from __future__ import annotations
