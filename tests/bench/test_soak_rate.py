"""The soak's default rate: half the service's headline, from this machine's latest run when
that run measured one, else from the run recorded in docs/performance.md."""

import json
from pathlib import Path

from bench.__main__ import PERFORMANCE_DOC, RECORDED_HEADLINE_ROW, recorded_headline


def latest_run(tmp_path: Path, headline: int) -> Path:
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"systems": {"service": {"headline": headline}}}))
    return path


def test_the_latest_run_gives_the_headline_when_it_measured_one(tmp_path):
    assert recorded_headline(latest_run(tmp_path, 12345)) == 12345


def test_a_run_without_the_room_scenario_falls_back_to_the_recorded_one(tmp_path):
    """`--only idle` writes a headline of 0; the soak used to run at its floor then."""
    recorded = int(RECORDED_HEADLINE_ROW.search(PERFORMANCE_DOC.read_text()).group(1))
    assert recorded > 0
    assert recorded_headline(latest_run(tmp_path, 0)) == recorded
    assert recorded_headline(tmp_path / "missing.json") == recorded
