"""Import a domain module that may not exist in this build (domains land one by one)."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # only a missing module *on this path* is optional; a broken import inside it is not
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise
