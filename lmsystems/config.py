"""lmsystems 1.0.8's `Config`: where the marketplace API is.

`Config.DEFAULT_BASE_URL` is `LMSYSTEMS_BASE_URL` as it was when lmsystems was imported, else the public
API; `Config.get_base_url()` reads `LMSYSTEMS_BASE_URL` now. The clients resolve `base_url` the same way
(argument, then the variable, then the public API).
"""

from __future__ import annotations

import os

from ._settings import BASE_URL_ENV
from ._settings import DEFAULT_BASE_URL as _PUBLIC_API

__all__ = ["Config"]


class Config:
    """The marketplace API's address, as lmsystems 1.0.8 exposed it."""

    #: `LMSYSTEMS_BASE_URL` when lmsystems was imported, else the public API.
    DEFAULT_BASE_URL: str = os.environ.get(BASE_URL_ENV) or _PUBLIC_API

    @staticmethod
    def get_base_url() -> str:
        """`LMSYSTEMS_BASE_URL` if set (read now), else `DEFAULT_BASE_URL`."""
        return os.environ.get(BASE_URL_ENV) or Config.DEFAULT_BASE_URL
