"""`<out>/report.html`: one self-contained page (data, d3 and script inlined) that needs no network.

The data is prepared by report_data.load_run; this module only assembles the page. The page's
Content-Security-Policy forbids every fetch, so a report opened from disk requests nothing.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from nanoservices.outputs.report_data import load_run
from nanoservices.problems import InputError, Problem

REPORT_FILE = "report.html"
ASSETS = Path(__file__).parent / "report_assets"
VENDOR = Path(__file__).parent / "vendor"
# The d3 modules the page uses, each a UMD build extending `d3`, dependencies first (vendor/README.md).
D3_MODULES = (
    "d3-array", "d3-color", "d3-interpolate", "d3-format", "d3-time", "d3-time-format", "d3-scale",
    "d3-dispatch", "d3-quadtree", "d3-timer", "d3-force", "d3-selection", "d3-axis", "d3-path", "d3-shape",
)  # fmt: skip
# The page's own script, in order: report.js declares what the others use, panels.js draws.
SCRIPTS = ("report.js", "graph.js", "timeline.js", "panels.js")
_SLOT = re.compile(r"@@([A-Z]+)@@")


def write_report(out_dir: Path, summary: dict[str, Any] | None = None) -> Path:
    """Write `<out_dir>/report.html` from the run's files; InputError names a missing or corrupt one.
    A run passes its `summary` in hand: summary.json is written after the page, once, listing it."""
    out_dir = Path(out_dir)
    page = render(load_run(out_dir, summary))
    path = out_dir / REPORT_FILE
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        problem = f"cannot write: {exc.strerror}; make the run directory writable"
        raise InputError([Problem(str(path), "", problem)]) from None
    return path


def render(data: dict[str, Any]) -> str:
    """The page, with the data embedded as JSON that no string inside it can close."""
    title = f"nanoservices run: {data['summary'].get('arch') or data['graph'].get('arch', '')}"
    slots = {
        "TITLE": html.escape(title),
        "CSS": (ASSETS / "report.css").read_text(encoding="utf-8"),
        "DATA": embed_json(data),
        "VENDOR": vendor_script(),
        "SCRIPT": page_script(),
    }
    template = (ASSETS / "page.html").read_text(encoding="utf-8")
    return _SLOT.sub(lambda match: slots[match.group(1)], template)  # one pass: inserted text is not scanned


def embed_json(data: Any) -> str:
    """JSON for a <script type="application/json"> block: `<` only occurs inside strings, so escaping it
    as \\u003c keeps `</script>` and `<!--` in names from ending the block, and JSON.parse reads it back."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def page_script() -> str:
    """The SCRIPTS joined inside one strict function: they share its declarations, the page none."""
    parts = [(ASSETS / name).read_text(encoding="utf-8") for name in SCRIPTS]
    return '(function () {\n  "use strict";\n' + "\n".join(parts) + "})();\n"


def vendor_script() -> str:
    parts = [(VENDOR / name / f"{name}.min.js").read_text(encoding="utf-8") for name in D3_MODULES]
    return "\n;\n".join(parts)
