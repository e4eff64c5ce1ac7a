"""Where sdkit's own presets are: the `builtin` entry of the `sdkit.presets` group points here.

In a wheel the top-level `presets/` folder is copied to `sdkit/builtin_presets`; in a source checkout
(editable install) it is read from the repository itself.
"""

from pathlib import Path

_packaged = Path(__file__).resolve().parent.parent / "builtin_presets"
_checkout = Path(__file__).resolve().parents[3] / "presets"

PRESETS_FOLDER = _packaged if _packaged.is_dir() else _checkout
