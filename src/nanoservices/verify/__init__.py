"""Verify what a tracing backend kept of a run: every trace read back by id and compared with the run's
expected record (nanoservices.tracing.expected). `verify_run` is the library face of both
`nanoservices verify` and `run --verify KIND=URL`; it never exits or prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nanoservices.problems import InputError, Problem
from nanoservices.verify.backends import BACKENDS, Backend, make_backend
from nanoservices.verify.model import BackendError
from nanoservices.verify.report import VERIFY_JSON, as_json, table, write_json
from nanoservices.verify.runner import Outcome, verify

__all__ = [
    "BACKENDS",
    "VERIFY_JSON",
    "Backend",
    "BackendError",
    "Outcome",
    "as_json",
    "make_backend",
    "parse_sample",
    "parse_target",
    "table",
    "verify",
    "verify_after_run",
    "write_json",
]


def parse_sample(text: str, source: str = "--sample") -> float:
    """`10%`, `0.1` or `1` as a fraction in (0, 1]; InputError naming the flag otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise InputError([Problem(source, "", f"{text!r} is not a share of traces; write e.g. 10% or 0.1")])
    return value


def parse_target(text: str, source: str = "--verify") -> tuple[str, str]:
    """`KIND=URL` (run --verify phoenix=http://127.0.0.1:6006) as (kind, url)."""
    kind, sep, url = text.partition("=")
    kind = kind.strip().lower()
    if not sep or kind not in BACKENDS or not url.strip().startswith(("http://", "https://")):
        raise InputError(
            [Problem(source, "", f"{text!r} is not KIND=URL with KIND one of {', '.join(BACKENDS)}")]
        )
    return kind, url.strip()


def verify_after_run(
    out_dir: Path, target: str, wait_s: float = 30.0, project: str = "default"
) -> tuple[dict[str, Any], list[str]]:
    """`run --verify`: verify the finished run, write verify.json, put the verdict in summary.json.
    Returns (verdict, table lines); a backend that is down is a verdict too, not an exception."""
    kind, url = parse_target(target)
    try:
        outcome = verify(out_dir, make_backend(kind, url, project), wait_s=wait_s)
        write_json(outcome, out_dir / VERIFY_JSON)
        data = as_json(outcome)
        verdict = {k: data[k] for k in ("intact", "backend", "url", "traces", "spans", "time_to_visible")}
        lines = table(outcome)
    except BackendError as exc:
        verdict = {"intact": False, "backend": kind, "url": url, "error": str(exc)}
        lines = [f"verify: {exc}"]
    summary_path = out_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        summary["verify"] = verdict
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return verdict, lines
