"""shotsmith's HTTP API: OpenAI- and Zhipu-compatible video endpoints plus native extras.

`create_app(settings)` builds the app; `shotsmith serve` (api/cli.py) runs it.
"""

from __future__ import annotations


def create_app(settings=None, **kwargs):
    from shotsmith.api.app import create_app as _create_app

    return _create_app(settings, **kwargs)


__all__ = ["create_app"]
