"""The pipeline: a request is validated, planned, rendered, verified and published.

:mod:`.run` holds the order (``prepare`` and ``execute``); each stage is a module."""
