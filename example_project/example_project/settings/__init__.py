"""Settings of the example: ``base`` holds what every pattern shares, one module per pattern.

Pick a pattern with ``--settings=example_project.settings.<pattern>`` (``make serve
PATTERN=<pattern>``); ``manage.py`` defaults to ``functional``.
"""
