"""The Gallery page through streamlit.testing.v1.AppTest (no browser), reached through losslab/app/router.py."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import optimizers
from losslab import budget, gallery, maps, race
from tests.rendered import shown

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
SMALL = {"surface": "rastrigin", "opt": "sgd,adam,lion", "steps": "300", "points": "16"}


def gallery_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.query_params.clear()  # the Explore page wrote its own settings (a sidebar link carries none)
    at.query_params.update(query or {})
    at.switch_page("losslab/app/gallery.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart(at: AppTest) -> dict:
    (figure,) = at.get("plotly_chart")
    return json.loads(figure.proto.spec)


def titles(spec: dict) -> list[str]:
    return [annotation["text"] for annotation in spec["layout"]["annotations"]]


def test_the_default_gallery_shows_every_optimizer_on_rosenbrock_at_its_best_rho(monkeypatch):
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    at = gallery_page()
    assert_clean(at)
    spec = chart(at)
    expected = gallery.gallery(gallery.GalleryConfig())
    assert len(titles(spec)) == len(expected.results)
    for title, (name, result) in zip(titles(spec), expected.results.items()):
        assert title.startswith(f"<b>{gallery.panel_title(result, expected.config)}</b>"), title
        assert f"{name} · ρ={result.lr:.3g}" in title or "diverged at every ρ" in title
    assert "rosenbrock" in spec["layout"]["title"]["text"] and "best ρ of 64" in spec["layout"]["title"]["text"]
    assert at.multiselect(key="gallery.optimizers").value == optimizers.names()
    assert dict(at.query_params) == {}  # every setting at its default: a short URL
    (table,) = at.dataframe
    assert list(table.value["optimizer"]) == list(expected.results) + list(expected.skipped)
    assert list(table.value["best_lr"]) == [r.lr for r in expected.results.values()] + [None] * len(expected.skipped)


def test_a_url_opens_its_gallery_and_the_page_writes_it_back():
    at = gallery_page(SMALL)
    assert_clean(at)
    spec = chart(at)
    assert [t.split(" · ")[0] for t in titles(spec)] == ["<b>sgd", "<b>adam", "<b>lion"]
    assert "rastrigin" in spec["layout"]["title"]["text"] and "300 steps" in spec["layout"]["title"]["text"]
    assert at.selectbox(key="gallery.surface").value == "rastrigin"
    assert at.slider(key="gallery.steps").value == 300 and at.slider(key="gallery.points").value == 16
    assert dict(at.query_params) == SMALL
    at.slider(key="gallery.steps").set_value(200).run()
    at.multiselect(key="gallery.optimizers").unselect("lion").run()
    assert_clean(at)
    assert dict(at.query_params) == {**SMALL, "steps": "200", "opt": "sgd,adam"}
    assert len(titles(chart(at))) == 2


def test_the_surface_parameters_are_widgets_and_in_the_url():
    at = gallery_page({"surface": "quadratic", "condition": "200", "opt": "sgd,momentum", "steps": "100",
                       "points": "8"})
    assert_clean(at)
    assert at.select_slider(key="gallery.quadratic.condition").value == 200.0
    assert "condition = 200" in chart(at)["layout"]["title"]["text"]
    assert dict(at.query_params)["condition"] == "200.0"


def test_the_table_and_the_downloads():
    at = gallery_page(SMALL)
    assert_clean(at)
    expected = gallery.gallery(gallery.GalleryConfig(surface="rastrigin", steps=300, points=16,
                                                     optimizers=("sgd", "adam", "lion")))
    (table,) = at.dataframe
    assert list(table.value["optimizer"]) == ["sgd", "adam", "lion"]
    assert list(table.value["final_loss"]) == [r.final_loss for r in expected.results.values()]
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download PNG", "Download SVG"]
    at.button(key="gallery.export.prepare.html").click().run()
    assert_clean(at)
    html = at.session_state["gallery.export._prepared"]["files"]["html"]
    assert b"<html" in html[:300].lower() and b'<script src="http' not in html


def test_open_on_explore_opens_the_race_at_the_best_rho():
    at = gallery_page(SMALL)
    at.selectbox(key="gallery.open_choice").set_value("adam").run()
    at.button(key="gallery.open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    config = gallery.GalleryConfig(surface="rastrigin", steps=300, points=16, optimizers=("sgd", "adam", "lion"))
    best = gallery.gallery(config).results["adam"].lr
    opened, messages = race.from_query(dict(at.query_params))
    assert messages == [] and list(opened.optimizers) == ["adam"] and opened.optimizers["adam"]["lr"] == best
    assert opened.surface == "rastrigin" and opened.steps == 300


def test_bad_url_values_fall_back_with_a_message_and_the_page_still_draws():
    at = gallery_page({"surface": "network", "steps": "7", "points": "3", "opt": "sgd,[x](https://evil.example)"})
    assert not at.exception and not at.error
    (warning,) = at.warning
    text = shown(warning.value)
    for key in ("surface", "steps=7", "points=3", "[x](https://evil.example)"):
        assert key in text, key
    assert "](" not in warning.value and "://" not in warning.value  # the link's source stays escaped
    assert [t.split(" · ")[0] for t in titles(chart(at))] == ["<b>sgd"]
    assert dict(at.query_params) == {"opt": "sgd"}


def test_no_optimizer_selected_and_over_the_budget_are_messages(monkeypatch):
    at = gallery_page(SMALL)
    at.multiselect(key="gallery.optimizers").set_value([]).run()
    assert not at.exception and not at.get("plotly_chart")
    assert "Select at least one optimizer" in at.info[0].value
    monkeypatch.setenv(budget.BUDGET_ENV, "0.5")
    at = gallery_page({**SMALL, "steps": "5000"})
    assert not at.exception and not at.get("plotly_chart")
    (error,) = at.error
    assert "This gallery would take about" in shown(error.value) and "budget of 0.5 s" in shown(error.value)


def test_a_failing_optimizer_is_named_in_a_warning_and_the_others_are_drawn(monkeypatch):
    original = maps.lr_curves

    def half_written(config, names, points=96, budget=None):
        if "lion" in names:
            raise NotImplementedError("lion is being written")
        return original(config, names, points, budget)

    monkeypatch.setattr(maps, "lr_curves", half_written)
    at = gallery_page({**SMALL, "steps": "370"})  # a gallery no other test has cached
    assert_clean(at)
    (warning,) = at.warning
    assert "lion: NotImplementedError: lion is being written" in shown(warning.value)
    assert [t.split(" · ")[0] for t in titles(chart(at))] == ["<b>sgd", "<b>adam"]


HOSTILE = ["", "²", "1e400", "nan", "-1", "0", "7", "2.5", "9" * 400, "true", ",", "[x](https://evil.example)",
           "<b>bold</b>", "a" * 201, "sgd,nope", "adam,adam"]
KEYS = ["surface", "opt", "steps", "points", "condition", "angle", "a", "b", "start", "k" * 61]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(HOSTILE), max_size=4))
def test_the_page_takes_any_query(query):
    at = gallery_page(query)
    assert not at.exception, (query, [e.value for e in at.exception])
    source = " ".join(e.value for e in (*at.error, *at.warning))
    assert "Traceback" not in source and "](" not in source and "://" not in source, (query, source)
