"""Real packed Ray runs through the CLI: the histogram files count what the summary and the series
count, and an architecture converted from a compose file runs and is accounted for."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.compose import load_compose, to_json

COMPOSE = Path(__file__).parent / "data" / "compose"
runner = CliRunner()

pytestmark = pytest.mark.ray


def served_per_service(timeseries: Path) -> dict[str, int]:
    served: dict[str, int] = {}
    with timeseries.open(newline="") as rows:
        for row in csv.DictReader(rows):
            served[row["service"]] = served.get(row["service"], 0) + int(row["requests"])
    return {service: n for service, n in served.items() if n}


def csv_counts(path: Path) -> int:
    with path.open(newline="") as rows:
        reader = csv.DictReader(rows)
        assert reader.fieldnames == ["upper_bound_ms", "count"], path
        return sum(int(row["count"]) for row in reader)


def test_histogram_files_count_what_the_summary_and_the_series_count(
    ray_local: object, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["run", "lamp", "-K", "100", "-d", "2", "--no-chaos", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    histograms = json.loads((tmp_path / "histograms.json").read_text())
    entry = histograms["entry"]
    assert summary["requests_completed"] > 0
    assert entry["count"] == summary["requests_completed"]
    assert sum(n for _, n in entry["buckets"]) == entry["count"]
    served = served_per_service(tmp_path / "timeseries.csv")
    assert len(served) >= 3, served  # lamp: the elb, the web servers and the stores all serve
    on_disk = {path.stem: csv_counts(path) for path in (tmp_path / "histograms").glob("*.csv")}
    assert on_disk == served
    assert {s: h["count"] for s, h in histograms["services"].items()} == served


def test_a_converted_compose_file_runs_on_ray(ray_local: object, tmp_path: Path) -> None:
    arch = tmp_path / "voting-v3.json"
    arch.write_text(to_json(load_compose(COMPOSE / "voting-v3.yml")))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(arch), "-K", "100", "-d", "2", "--no-chaos", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accounted"] is True and summary["accounting_problems"] == []
    assert summary["requests_completed"] > 0
    assert (
        summary["requests_completed"]
        == summary["requests_issued"]
        - sum(summary["requests_failed"].values())
        - summary["requests_in_flight"]
    )
    document = json.loads(arch.read_text())
    called = {d for s in document["services"] for d in s["dependencies"]}
    assert set(served_per_service(out / "timeseries.csv")) == called  # every called service served
