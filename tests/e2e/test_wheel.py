"""The wheel carries what an installed burgerwacht reads at run time: every migration,
every functions file, schema.sql, the default configuration and the demo data. (The
full check, installing it outside the checkout, migrating and serving, is
.ci/wheel-smoke.sh.)"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from burgerwacht import resources

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_contains_migrations_functions_and_defaults(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("burgerwacht-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        *(
            f"burgerwacht/sql/migrations/{p.name}"
            for p in resources.MIGRATIONS.iterdir()
            if p.name.endswith(".sql")
        ),
        *(
            f"burgerwacht/sql/functions/{p.name}"
            for p in resources.FUNCTIONS.iterdir()
            if p.name.endswith(".sql")
        ),
        "burgerwacht/sql/schema.sql",
        "burgerwacht/defaults/default.toml",
        "burgerwacht/defaults/messages.toml",
        "burgerwacht/defaults/signals.toml",
        "burgerwacht/defaults/demo/areas.geojson",
        "burgerwacht/defaults/demo/addresses.csv",
    }
    assert len(expected) > 20
    assert sorted(expected - names) == []
