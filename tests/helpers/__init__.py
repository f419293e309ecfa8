"""Shared test helpers: one synthetic rod generator (:mod:`helpers.rods`), one tiny-model factory
(:mod:`helpers.models`), Hub stand-ins and subprocess scripts. ``tests/`` is on ``sys.path`` through
``pythonpath`` in ``[tool.pytest.ini_options]``, so tests import ``from helpers.rods import TinyRods``.
"""
