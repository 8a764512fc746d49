"""Moved: the server's settings are `shotsmith.settings` (one object for the whole process).
Add new settings there; this name stays importable for code written against it."""

from shotsmith.settings import Settings, current, default_home, is_loopback  # noqa: F401
