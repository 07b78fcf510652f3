"""Explore's download section and JSON upload in a real browser: every button delivers a file whose bytes are
what its format says (read back with Pillow, imageio, an XML parser, csv and json), and an uploaded race JSON
restores its race on the page and in the URL."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import imageio.v2 as imageio
from PIL import Image

from losslab import config_io, exports, race
from plots.export import CSV_COLUMNS
from plots.static import PRESETS
from tests.rendered import html_live_spec

from .conftest import open_expander, path_names, paths, query, race_state, wait_idle

FRAMES = 4  # GIF/MP4 frames: the slider's minimum (2) plus two key presses, to keep the renders short
SLIDE = PRESETS["slide"]  # the default export preset, at scale 1


def download(page, label: str, folder: Path) -> tuple[str, bytes]:
    """Click the download button ``label``; the file's suggested name and its bytes (kept in ``folder``)."""
    with page.expect_download(timeout=60_000) as event:
        page.get_by_role("button", name=label).click()
    name = event.value.suggested_filename
    event.value.save_as(folder / name)
    return name, (folder / name).read_bytes()


def prepare(page, fmt: str) -> None:
    """Click "Prepare FMT" and wait until its rendered file is offered as "Download FMT"."""
    page.get_by_role("button", name=f"Prepare {fmt}").click()
    page.get_by_role("button", name=f"Download {fmt}").wait_for(timeout=120_000)
    wait_idle(page)  # the run that drew it has finished: the next click starts a fresh one


def set_export_frames(page, frames: int) -> None:
    """Move the export settings' frame-count slider to ``frames`` with the keyboard (Home = its minimum)."""
    open_expander(page, "Export settings")
    slider = page.locator('input[aria-label="GIF/MP4 frames"]')
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(frames - int(slider.get_attribute("min"))):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(n) => [...document.querySelectorAll('input[aria-label=\"GIF/MP4 frames\"]')]"
                           ".some(s => s.value === String(n))", arg=frames)
    wait_idle(page)


def test_every_download_button_delivers_a_valid_file(page, app_url, artifacts):
    folder = artifacts / "downloads"
    folder.mkdir(exist_ok=True)
    page.goto(app_url)
    shown = race_state(page)
    drawn = paths(shown)
    stem = exports.file_stem(race.RaceConfig())
    set_export_frames(page, FRAMES)

    name, data = download(page, "Download CSV", folder)
    assert name == f"{stem}.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + sum(len(t["x"]) for t in drawn)
    for optimizer, trace in zip(path_names(shown), drawn):  # the rows are the drawn paths, number for number
        mine = [row for row in rows[1:] if row[0] == optimizer]
        assert [float(row[2]) for row in mine] == trace["x"] and [float(row[3]) for row in mine] == trace["y"]
        assert [int(row[1]) for row in mine] == list(range(len(trace["x"])))

    name, data = download(page, "Download JSON", folder)
    assert name == f"{stem}.json"
    document = json.loads(data)
    assert document["schema_version"] == config_io.SCHEMA_VERSION
    assert document["config"] == config_io.config_dict(race.RaceConfig())
    assert list(document["trajectories"]) == path_names(shown)
    assert [[p[0] for p in t["points"]] for t in document["trajectories"].values()] == [t["x"] for t in drawn]
    assert [[p[1] for p in t["points"]] for t in document["trajectories"].values()] == [t["y"] for t in drawn]

    name, data = download(page, "Download PNG", folder)
    assert name == f"{stem}.png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (SLIDE.width, SLIDE.height)

    name, data = download(page, "Download SVG", folder)
    assert name == f"{stem}.svg"
    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width")) == SLIDE.width and float(root.get("height")) == SLIDE.height

    for fmt in ("PDF", "HTML", "GIF", "MP4"):
        prepare(page, fmt)

    name, data = download(page, "Download PDF", folder)
    assert name == f"{stem}.pdf" and data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")

    name, data = download(page, "Download HTML", folder)
    html = data.decode("utf-8")
    assert name == f"{stem}.html" and "<script src=\"http" not in html and "LiveRace.mount" in html
    assert len(html_live_spec(html)["figure"]["frames"]) == shown["frames"]  # the page's animation, frames and all

    name, data = download(page, "Download GIF", folder)
    assert name == f"{stem}.gif" and data[:6] == b"GIF89a"
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == FRAMES and image.size == (SLIDE.width, SLIDE.height)

    name, data = download(page, "Download MP4", folder)
    assert name == f"{stem}.mp4" and data[4:8] == b"ftyp"
    with imageio.get_reader(folder / name, format="FFMPEG") as reader:
        frames = [frame.shape for frame in reader]
    assert frames == [(SLIDE.height, SLIDE.width, 3)] * FRAMES
    assert "Traceback" not in page.content()


def test_uploaded_json_restores_the_race_and_the_url(page, app_url, artifacts, tmp_path):
    config = race.RaceConfig(
        surface="himmelblau", surface_params={}, steps=120, start=(-1.25, 1.5),
        optimizers={"adam": {**race.optimizer_defaults("adam", "himmelblau"), "lr": 0.02},
                    "nesterov": race.optimizer_defaults("nesterov", "himmelblau")})
    upload = tmp_path / "restore.json"
    upload.write_bytes(exports.export_race(config, "json"))
    stored = json.loads(upload.read_text())["trajectories"]

    page.goto(app_url)
    before = race_state(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(upload)
    after = race_state(page, changed_from=before)
    drawn = paths(after)
    assert path_names(after) == ["adam", "nesterov"]
    assert all(len(t["x"]) == config.steps + 1 for t in drawn)
    assert all([t["x"][0], t["y"][0]] == list(config.start) for t in drawn)
    for trace, (name, trajectory) in zip(drawn, stored.items()):  # the same race, bit for bit
        assert [[x, y] for x, y in zip(trace["x"], trace["y"])] == trajectory["points"], name
    page.get_by_text("Restored the race: himmelblau").wait_for()

    page.wait_for_function("() => new URLSearchParams(location.search).get('surface') === 'himmelblau'")
    restored, messages = race.from_query(query(page))
    assert messages == []
    assert config_io.config_dict(restored) == config_io.config_dict(config)
    page.screenshot(path=str(artifacts / "explore-restored.png"), full_page=True)
