"""The cross-domain matrix from per-domain metrics."""

import json

import pytest

from repro.cli import main
from repro.report.cross_domain import cross_domain_matrix
from repro.report.manifest import ReportInputError


def write_metrics(path, values):
    path.write_text(json.dumps({"per_domain": {d: {"metrics": {"avg@4": {"value": v}}} for d, v in values.items()}}))
    return path


def test_matrix_cells_are_point_changes():
    start = {"a": 0.20, "b": 0.50}
    matrix = cross_domain_matrix(start, {"a": {"a": 0.30, "b": 0.45}})
    assert matrix["a"]["a"] == pytest.approx(10.0)
    assert matrix["a"]["b"] == pytest.approx(-5.0)


def test_mismatched_domains_rejected():
    with pytest.raises(ReportInputError, match="same suite"):
        cross_domain_matrix({"a": 0.1, "b": 0.2}, {"a": {"a": 0.1}})


def test_cli_writes_matrix(tmp_path):
    start = write_metrics(tmp_path / "start.json", {"a": 0.25, "b": 0.5})
    run_a = write_metrics(tmp_path / "a.json", {"a": 0.5, "b": 0.25})
    status = main(["cross-domain", "--start", str(start), "--run", f"a={run_a}", "--metric", "avg@4",
                   "--out", str(tmp_path / "out")])
    assert status == 0
    table = (tmp_path / "out" / "matrix.md").read_text()
    assert "| a | +25.0 | -25.0 |" in table
    assert (tmp_path / "out" / "matrix.png").stat().st_size > 0


def test_cli_bad_run_argument_writes_nothing(tmp_path):
    start = write_metrics(tmp_path / "start.json", {"a": 0.25})
    status = main(["cross-domain", "--start", str(start), "--run", "no-equals-sign", "--out", str(tmp_path / "out")])
    assert status == 2
    assert not (tmp_path / "out").exists()
