"""CSV that spreadsheets open as data: a text cell that starts like a formula (``=``,
``+``, ``-``, ``@``, tab or carriage return) gets a leading ``'`` so Excel, LibreOffice
and Google Sheets show it instead of running it (CSV injection). Numbers stay numbers:
only ``str`` cells are escaped, so ``-3`` in a count column is still ``-3``.

Every CSV this service writes goes through :func:`writer`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, out: Any, **kw: Any) -> None:
        self._writer = csv.writer(out, **kw)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: Any, **kw: Any) -> _SafeWriter:
    """``csv.writer`` whose text cells cannot start a spreadsheet formula."""
    return _SafeWriter(out, **kw)
