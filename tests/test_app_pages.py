"""The Streamlit pages run headless through Streamlit's AppTest (no browser, no server)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from metasuite.apps.bench import PAGES
from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.sinusoid import DEFAULT_SEED, MAX_STEPS, load_sinusoid_model

HOME = str(APPS_DIR / "Home.py")
SINUSOID = str(APPS_DIR / "pages" / "1_Sinusoid.py")


@pytest.fixture(scope="module", autouse=True)
def _model_ready() -> None:
    """Load (or quick-train and cache) the model outside AppTest's per-run timeout."""
    load_sinusoid_model()


def _figure(at: AppTest, index: int = 0) -> dict:
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart rendered"
    return json.loads(charts[index].proto.spec)


def test_home_runs_and_lists_the_sinusoid_domain() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert "Sinusoid regression" in [s.value for s in at.subheader]
    assert any("sinusoid" in c.value for c in at.caption)
    assert any("Sinusoid" in link.value for link in at.page_link)
    assert any("metasuite.domains" in c.value for c in at.code)


def test_home_links_to_a_working_sinusoid_page() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.switch_page("pages/1_Sinusoid.py").run()
    assert not at.exception
    assert at.title[0].value == "Sinusoid regression"


def test_sinusoid_page_renders_charts_and_model_card() -> None:
    at = AppTest.from_file(SINUSOID, default_timeout=60).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    names = [trace["name"] for trace in _figure(at)["data"]]
    assert names[0] == "true curve" and names[-1] == "10 support points"
    assert [m.label for m in at.metric] == ["Amplitude A", "Phase φ (rad)", "Meta-learned MSE", "Scratch MSE"]
    card = at.table[0].value
    assert "algorithm" in card.iloc[:, 0].tolist()


def test_step_slider_moves_the_predictions() -> None:
    at = AppTest.from_file(SINUSOID, default_timeout=60).run()
    before = _figure(at)
    at.slider(key="step").set_value(0).run()
    at_zero = _figure(at)
    at.slider(key="step").set_value(MAX_STEPS).run()
    assert not at.exception
    after = _figure(at)
    assert at_zero["layout"]["title"]["text"] == "After 0 inner steps"
    assert after["layout"]["title"]["text"] == f"After {MAX_STEPS} inner steps"
    assert after["data"][1]["y"] != at_zero["data"][1]["y"]  # the meta-learned curve moved
    assert before["data"][0] == after["data"][0]  # the true curve did not


def test_new_task_button_draws_another_sine() -> None:
    at = AppTest.from_file(SINUSOID, default_timeout=60).run()
    amplitude = at.metric[0].value
    at.button[0].click().run()
    assert not at.exception
    assert at.number_input(key="seed").value == DEFAULT_SEED + 1
    assert at.metric[0].value != amplitude


def test_k_shot_slider_changes_the_support_set() -> None:
    at = AppTest.from_file(SINUSOID, default_timeout=60).run()
    at.select_slider(key="k_shot").set_value(20).run()
    assert not at.exception
    support = _figure(at)["data"][-1]
    assert support["name"] == "20 support points"


def test_the_app_benchmark_times_every_page() -> None:
    """`metasuite bench app` opens each page by its URL path: a page file missing from its list goes unmeasured."""
    files = {p.stem.split("_", 1)[1] for p in (APPS_DIR / "pages").glob("*.py")}
    assert files == {path for name, (path, _) in PAGES.items() if name != "Home"}
