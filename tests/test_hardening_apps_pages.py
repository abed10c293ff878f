"""Page details seen in screenshots (issue row 12) and the generic page's typed domain options (issue 13).

Row 12: readable environment names on the Driving page, accuracy changes in percentage points, confusion
matrices whose tick labels fit, numbers and dicts on the "Any domain" page written for people, and a
Diagnosis comparison titled after what it compares. Issue 13: the "Any domain" page builds one widget per
declared option (``Domain.option_specs``, ``flag=True``) and rebuilds the domain through
:func:`metasuite.core.runs.build_domain` only when a value changes.
"""

from __future__ import annotations

import math
import re
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import VECTOR_DIM, GaussianClassSampler, TinyClassificationDomain
from streamlit.testing.v1 import AppTest

import metasuite.apps.logic.generic as generic
from metasuite.apps.logic import APPS_DIR, GENERIC_PAGE, REPO_ROOT
from metasuite.apps.logic.diagnosis import (
    MITDB_CHECKPOINT,
    UNADAPTED,
    AdaptResult,
    comparison_title,
    load_global_model,
    load_meta_learner,
)
from metasuite.apps.logic.diagnosis import confusion_figure as beat_confusion_figure
from metasuite.apps.logic.driving import (
    adaptation_delta,
    confusion_figure,
    environment_label,
    load_pooled_model,
    load_protonet,
    unseen_environments,
)
from metasuite.apps.logic.generic import (
    changed_options,
    display_table,
    format_number,
    format_value,
    key_value_text,
    option_fields,
)
from metasuite.core import registry
from metasuite.core.errors import DataError
from metasuite.core.options import Option

GENERIC = str(APPS_DIR / GENERIC_PAGE)
DRIVING = str(APPS_DIR / "pages" / "2_Driving.py")
DIAGNOSIS = str(APPS_DIR / "pages" / "3_Diagnosis.py")
REAL_MITDB = REPO_ROOT / ".." / "shared" / "data" / "mitdb-ds1"
LONG_FLOAT = re.compile(r"\d\.0*[1-9]\d{4,}")  # 5 or more significant digits after the point


# ---------------------------------------------------------------------------- driving: environment names
def test_environment_labels_are_readable() -> None:
    assert environment_label("clear|daytime|japan") == "clear, daytime, Japan-style roads"
    assert environment_label("foggy|dawn/dusk|north_america") == "foggy, dawn or dusk, North American-style roads"
    assert environment_label("rainy|night|europe") == "rainy, night, European-style roads"
    assert environment_label("rainy|night") == "rainy, night"  # BDD100K weather|time of day
    assert environment_label("my cam") == "my cam"  # an upload's label is shown as it is
    for env in unseen_environments():
        assert "|" not in environment_label(env) and "_" not in environment_label(env)


@pytest.mark.parametrize(
    ("after", "before", "text"),
    [
        (0.66, 0.46, "+20 points from adapting"),
        (0.40, 0.50, "-10 points from adapting"),
        (0.51, 0.50, "+1 point from adapting"),
        (0.50, 0.50, "+0 points from adapting"),
    ],
)
def test_accuracy_change_is_in_percentage_points(after: float, before: float, text: str) -> None:
    assert adaptation_delta(after, before) == text


# ---------------------------------------------------------------------------- confusion matrices
CHAR_PX = 7  # width of one character of a 12 px tick label, a generous estimate


def _tick_room(fig: Any, names: list[str]) -> None:
    """Every tick label fits inside the margins plotly is given, and rows stay tall enough to read."""
    layout = fig.layout
    shown = list(layout.xaxis.ticktext or names)
    assert list(layout.yaxis.ticktext or names) == shown
    assert all(len(t) <= 16 for t in shown), "long names are abbreviated"
    longest = max(len(t) for t in shown) * CHAR_PX
    angle = abs(layout.xaxis.tickangle or 0)
    # x labels: horizontal only when they fit side by side in the narrowest cell the pages draw (60 px)
    assert angle >= 30 or longest <= 60
    assert layout.margin.b >= longest * math.sin(math.radians(angle)) + 30, "room below for x labels + title"
    assert layout.margin.l >= longest + 20, "room left of the matrix for y labels + title"
    rows = (layout.height - layout.margin.t - layout.margin.b) / len(names)
    assert rows >= 30, "each row at least 30 px tall"
    assert layout.xaxis.automargin and layout.yaxis.automargin


@pytest.mark.parametrize(
    "names",
    [
        ["bridge", "parking lot", "intersection", "rural road", "railway crossing"],
        ["roundabout", "tunnel", "a scene with a very long folder name indeed", "x", "highway"],
        [f"class number {i}" for i in range(12)],
    ],
)
def test_driving_confusion_labels_fit(names: list[str]) -> None:
    fig = confusion_figure(np.eye(len(names), dtype=int), names)
    _tick_room(fig, names)
    assert list(fig.data[0].x) == names, "hover keeps the full names"


def test_beat_confusion_labels_fit_and_stay_horizontal() -> None:
    fig = beat_confusion_figure(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3]), UNADAPTED)
    _tick_room(fig, ["N", "S", "V", "F"])
    assert (fig.layout.xaxis.tickangle or 0) == 0
    assert fig.layout.title.text == UNADAPTED


# ---------------------------------------------------------------------------- diagnosis: what is compared
def test_comparison_title_names_what_is_compared() -> None:
    proba = np.full((3, 4), 0.25)
    unadapted = AdaptResult(proba, proba, global_label=UNADAPTED)
    assert comparison_title(unadapted) == "Meta-learned initialisation (no adaptation) vs adapted"
    assert comparison_title(AdaptResult(proba, proba)) == "Global model (no adaptation) vs adapted"


@pytest.fixture(scope="module")
def _diagnosis_models() -> None:
    load_meta_learner()
    load_global_model()
    if (MITDB_CHECKPOINT / "best.json").is_file():
        load_meta_learner(str(MITDB_CHECKPOINT))


@pytest.mark.skipif(not REAL_MITDB.is_dir(), reason=f"real MIT-BIH records not available ({REAL_MITDB})")
@pytest.mark.usefixtures("_diagnosis_models")
def test_mitdb_block_is_titled_after_the_unadapted_network() -> None:
    at = AppTest.from_file(DIAGNOSIS, default_timeout=300).run()
    at.button(key="adapt").click().run()
    assert not at.exception
    assert "Global model (no adaptation) vs adapted" in [h.value for h in at.header]
    at.radio(key="source").set_value("Local MIT-BIH folder").run()
    at.text_input(key="mitdb_dir").input(str(REAL_MITDB)).run()
    at.selectbox(key="mitdb_record").set_value("101").run()
    at.button(key="adapt").click().run()
    assert not at.exception
    shipped = (MITDB_CHECKPOINT / "best.json").is_file()
    headers = [h.value for h in at.header]
    expected = "Meta-learned initialisation (no adaptation) vs adapted" if shipped else "Global model"
    assert any(h.startswith(expected) for h in headers), headers
    assert "Global model vs adapted" not in headers
    column = at.dataframe[0].value.columns[0]
    assert column == (UNADAPTED if shipped else "global (no adaptation)")


# ---------------------------------------------------------------------------- driving page
@pytest.fixture(scope="module")
def _driving_models() -> None:
    load_protonet()
    load_pooled_model()


@pytest.mark.usefixtures("_driving_models")
def test_driving_page_shows_readable_environments_and_points() -> None:
    at = AppTest.from_file(DRIVING, default_timeout=120).run()
    assert not at.exception
    box = at.selectbox(key="environment")
    assert box.value in unseen_environments(), "the raw key stays the widget's value"
    assert all("|" not in option for option in box.options)
    assert environment_label(box.value) in box.options
    assert not any("|" in h.value for h in at.subheader)
    at.button[0].click().run()
    assert not at.exception
    before = at.metric[1]
    assert re.fullmatch(r"[+-]\d+ points? from adapting", before.proto.delta), before.proto.delta
    assert "%" not in before.proto.delta


# ---------------------------------------------------------------------------- generic page: numbers and dicts
def test_numbers_and_mappings_are_written_for_people() -> None:
    assert format_number(0.51234567) == "0.512"
    assert format_number(1.6767066717147827) == "1.68"
    assert format_number(-0.00538123) == "-0.00538"
    assert format_number(0.0054, signed=True) == "+0.0054"
    assert format_number(12345.678) == "12,346"
    assert format_number(float("nan")) == "—"
    assert format_value(3) == "3" and format_value(True) == "true" and format_value(None) == "—"
    assert format_value(["down", "up"]) == "down, up"
    assert format_value({"hidden": [64, 64], "lr": 0.0012345}) == "hidden: 64, 64; lr: 0.00123"
    text = key_value_text({"amplitude": 1.6767066717147827, "phase": 1.4202758073806763, "split": "test"})
    assert text == "amplitude: 1.68 · phase: 1.42 · split: test"
    assert key_value_text({"n_way": None, "k_shot": 10}) == "k_shot: 10", "unset values are left out"


def test_display_table_formats_float_columns_only() -> None:
    table = pd.DataFrame({"label": ["a", "b"], "x[0]": [0.51234567, -4.87461234], "n": [1, 2]})
    html = display_table(table).to_html()
    assert "0.512" in html and "-4.87" in html and "0.51234567" not in html
    assert display_table(table).data is table, "the numbers themselves are untouched"


def _texts(at: AppTest) -> list[str]:
    return [c.value for c in at.caption] + [m.value for m in at.markdown]


@pytest.mark.parametrize("domain", ["sinusoid", "trading"])
def test_generic_page_shows_no_raw_floats_or_python_dicts(domain: str) -> None:
    if not generic.shipped_runs(domain):
        pytest.skip(f"no shipped checkpoint for {domain}")
    at = AppTest.from_file(GENERIC, default_timeout=120)
    at.query_params["domain"] = domain
    at.run()
    assert not at.exception
    for text in _texts(at):
        assert not LONG_FLOAT.search(text), text
        assert "{'" not in text and "['" not in text, text
    task = next(c.value for c in at.caption if c.value.startswith("Task: "))
    assert "split: test" in task
    assert all(not LONG_FLOAT.search(m.value) and not LONG_FLOAT.search(m.proto.delta) for m in at.metric)


# ---------------------------------------------------------------------------- generic page: typed options
class OptionsDomain(TinyClassificationDomain):
    """The tiny Gaussian-cluster domain with one option of every widget kind (and one kept off the page)."""

    name = "tiny-options"
    title = "Tiny clusters with options"
    option_specs = (
        Option("noise", float, 0.5, "spread of each cluster"),
        Option("n_classes", int, 12, "classes per split"),
        Option("tag", str, None, "free text"),
        Option("weights", dict, None, "a JSON object"),
        Option("shuffle", bool, False, "a switch"),
        Option("mode", str, "plain", "one of two", choices=("plain", "fancy")),
        Option("secret", int, 1, "command line only", flag=False),
    )

    def __init__(
        self,
        noise: float = 0.5,
        n_classes: int = 12,
        tag: str | None = None,
        weights: dict | None = None,
        shuffle: bool = False,
        mode: str = "plain",
        secret: int = 1,
    ):
        if noise < 0:
            raise DataError(f"noise must be >= 0, got {noise}")
        given = {"noise": noise, "n_classes": n_classes, "tag": tag, "weights": weights, "shuffle": shuffle}
        super().__init__(**{k: v for k, v in given.items() if v is not None}, mode=mode, secret=secret)
        self.noise, self.n_classes = noise, n_classes

    def sampler(self, split: str, *, n_way: int | None = 3, k_shot: int = 2, n_query: int = 3) -> GaussianClassSampler:
        return GaussianClassSampler(
            (VECTOR_DIM,),
            n_classes=self.n_classes,
            n_way=n_way or 3,
            k_shot=k_shot,
            n_query=n_query,
            noise=self.noise,
            seed=100 + self._OFFSET[split],
            first_class=self._OFFSET[split],
        )


def test_option_fields_follow_the_declared_options() -> None:
    registry_domain = OptionsDomain
    fields = option_fields(registry_domain.option_specs)
    assert [f["name"] for f in fields] == ["noise", "n_classes", "tag", "weights", "shuffle", "mode"]
    kinds = {f["name"]: f["widget"] for f in fields}
    assert kinds == {
        "noise": "number",
        "n_classes": "number",
        "tag": "text",
        "weights": "text",
        "shuffle": "checkbox",
        "mode": "select",
    }
    by_name = {f["name"]: f for f in fields}
    assert by_name["noise"]["value"] == 0.5 and by_name["n_classes"]["value"] == 12
    assert by_name["tag"]["value"] == "" and by_name["mode"]["choices"] == ["plain", "fancy"]
    recorded = option_fields(registry_domain.option_specs, {"noise": 0.25, "weights": {"a": 1}, "mode": "fancy"})
    by_name = {f["name"]: f for f in recorded}
    assert by_name["noise"]["value"] == 0.25 and by_name["mode"]["value"] == "fancy"
    assert by_name["weights"]["value"] == '{"a": 1}'
    values = {f["name"]: f["value"] for f in fields}
    assert changed_options(fields, values) == {}
    values.update(noise=0.1, tag="  hello ", mode="fancy")
    assert changed_options(fields, values) == {"noise": 0.1, "tag": "hello", "mode": "fancy"}
    folder = option_fields((Option("data_dir", Path, None, "a folder"),))
    assert changed_options(folder, {"data_dir": " data/x "}) == {"data_dir": str(REPO_ROOT / "data" / "x")}
    assert changed_options(folder, {"data_dir": "/abs"}) == {"data_dir": "/abs"}


@pytest.fixture
def options_domain(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Register :class:`OptionsDomain`; returns the calls the page makes to ``build_domain``."""
    installed = registry.available_domains

    def with_options() -> dict[str, EntryPoint]:
        entry = EntryPoint(name=OptionsDomain.name, value=f"{__name__}:OptionsDomain", group=registry.ENTRY_POINT_GROUP)
        return dict(sorted({**installed(), entry.name: entry}.items()))

    monkeypatch.setattr(registry, "available_domains", with_options)
    calls: list[tuple[str, dict[str, Any]]] = []
    real = generic.build_domain

    def recording(name: str, options: dict[str, Any] | None = None) -> Any:
        calls.append((name, dict(options or {})))
        return real(name, options)

    monkeypatch.setattr(generic, "build_domain", recording)
    return calls


def _by_label(widgets: Any, label: str) -> Any:
    (found,) = [w for w in widgets if w.label == label]
    return found


def test_generic_page_builds_option_widgets_and_rebuilds_the_domain(
    options_domain: list[tuple[str, dict[str, Any]]],
) -> None:
    at = AppTest.from_file(GENERIC, default_timeout=120)
    at.query_params["domain"] = OptionsDomain.name
    at.run()
    assert not at.exception and not at.error
    assert [e.label for e in at.expander] == ["Domain options"]
    assert {w.label for w in at.number_input} >= {"noise", "n_classes"}
    assert {w.label for w in at.text_input} >= {"tag", "weights"}
    assert [w.label for w in at.checkbox] == ["shuffle"]
    assert "mode" in [w.label for w in at.selectbox]
    assert "secret" not in [w.label for w in [*at.number_input, *at.text_input]]
    assert options_domain == [], "no option changed: the domain is built exactly as before"
    default_table = at.dataframe[-1].value

    _by_label(at.number_input, "noise").set_value(0.1).run()
    assert not at.exception and not at.error
    assert options_domain[-1] == (OptionsDomain.name, {"noise": 0.1})
    assert any("noise: 0.1" in c.value for c in at.caption)
    assert not at.dataframe[-1].value.equals(default_table), "the comparison ran on the rebuilt domain"

    _by_label(at.selectbox, "mode").set_value("fancy").run()
    _by_label(at.checkbox, "shuffle").check().run()
    assert not at.exception and not at.error
    assert options_domain[-1] == (OptionsDomain.name, {"noise": 0.1, "mode": "fancy", "shuffle": True})

    _by_label(at.text_input, "weights").input("not json").run()
    assert not at.exception
    assert any("option weights" in e.value for e in at.error)

    _by_label(at.text_input, "weights").input('{"a": 1}').run()
    _by_label(at.number_input, "noise").set_value(-1.0).run()
    assert not at.exception
    assert any("noise must be >= 0" in e.value for e in at.error)


def test_generic_page_option_defaults_are_the_checkpoints_recorded_options() -> None:
    runs = generic.shipped_runs("trading")
    if not runs:
        pytest.skip("no shipped trading checkpoint")
    at = AppTest.from_file(GENERIC, default_timeout=120)
    at.query_params["domain"] = "trading"
    at.run()
    assert not at.exception
    recorded = generic.load_model("trading", runs[0]).meta["domain_options"]
    assert _by_label(at.selectbox, "source").value == recorded["source"]
    assert _by_label(at.number_input, "hidden").value == recorded["hidden"]
    _by_label(at.number_input, "hidden").set_value(recorded["hidden"] // 2).run()
    assert not at.exception
    assert any("hidden" in e.value and "Untrained learner" in e.value for e in at.error)


def test_a_domain_without_options_shows_no_options_expander() -> None:
    if not generic.shipped_runs("sinusoid"):
        pytest.skip("no shipped sinusoid checkpoint")
    at = AppTest.from_file(GENERIC, default_timeout=120)
    at.query_params["domain"] = "sinusoid"
    at.run()
    assert not at.exception and not at.expander
