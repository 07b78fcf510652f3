"""The Networks page opens a slice made by ``losslab slice`` in a real browser: the zip is given to the uploader's
``input[type=file]``, the contour (with a gap: an unfinished slice) and the 3-D view are drawn, the note counts the
tiles, the CSV, PNG and HTML downloads come back, and a file with a pickle codec is refused with one error line."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from tests.test_slice_cli import slice_cli

from .conftest import wait_idle
from .test_navigation_browser import assert_router_and_no_error

UPLOADER = '[data-testid="stFileUploader"] input[type=file]'

# The uploaded slice's two charts as plain data: the contour (a layout image under one isoline trace) and the 3-D view.
SLICE_CHARTS = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g._fullData);
  const contour = charts.filter(g => (g.layout.annotations || []).some(a => String(a.text).includes('Sequential')));
  const surface = charts.filter(g => g._fullData.some(t => t.type === 'surface')
                                     && String(g.layout.scene && g.layout.scene.xaxis.title.text) === 'a');
  if (!contour.length || !surface.length) return null;
  const flat = contour[contour.length - 1];
  return {images: flat.querySelectorAll('.imagelayer image').length,
          traces: flat._fullData.map(t => t.type),
          surface: surface[surface.length - 1]._fullData.filter(t => t.type === 'surface').length};
}"""


def zipped(store: Path, skip: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(store.rglob("*")):
            name = str(path.relative_to(store))
            if path.is_file() and name not in skip:
                archive.writestr(name, path.read_bytes())
    return buffer.getvalue()


def section_button(page, key: str):
    """The button of the slice section's export panel with this widget key (the race's panel has the same labels;
    Streamlit's class for a key has its dots as dashes), once the script is idle (no stale copy left)."""
    wait_idle(page, timeout=90_000)
    return page.locator(f'.st-key-slice_upload-export-{key.replace(".", "-")}').get_by_role("button").last


def download(page, key: str, folder: Path) -> tuple[str, bytes]:
    with page.expect_download(timeout=90_000) as event:
        section_button(page, key).click()
    name = event.value.suggested_filename
    event.value.save_as(folder / name)
    return name, (folder / name).read_bytes()


def test_networks_page_opens_an_uploaded_slice_with_its_downloads(page, app_url, tmp_path, artifacts):
    store = tmp_path / "slice.zarr"
    code, _, err = slice_cli(store, "--range", "0.5", grid=17, tile=8)
    assert code == 0, err
    partial = tmp_path / "slice.zip"
    partial.write_bytes(zipped(store, skip=("loss/c/1/1", "done/c/1/1")))  # one tile of 9 not computed

    page.goto(app_url + "/networks?dataset=moons&hidden=8&grid=41&steps=20&opt=sgd")
    page.get_by_role("heading", name="Your own model's slice").wait_for(timeout=120_000)
    wait_idle(page, timeout=120_000)
    page.locator(UPLOADER).set_input_files(str(partial))
    page.get_by_text("8 of 9 tiles computed").wait_for(timeout=90_000)
    page.wait_for_function(SLICE_CHARTS, timeout=90_000)
    wait_idle(page, timeout=90_000)
    charts = page.evaluate(SLICE_CHARTS)
    assert charts["images"] == 1 and "scatter" in charts["traces"] and charts["surface"] == 1
    page.get_by_text("do not run in the app").wait_for(timeout=30_000)
    page.locator('[data-testid="stCode"]').filter(has_text="--race sgd,adam").wait_for(timeout=30_000)
    assert_router_and_no_error(page)
    contour = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Sequential").last
    contour.scroll_into_view_if_needed()
    contour.screenshot(path=str(artifacts / "networks-uploaded-slice.png"))

    name, data = download(page, "get.csv", tmp_path)
    rows = data.decode().splitlines()
    assert name == "slice-17x17.csv" and rows[0] == "a,b,loss" and len(rows) == 1 + 17 * 17
    values = np.array([float(r.split(",")[2]) if r.split(",")[2] else np.nan for r in rows[1:]]).reshape(17, 17)
    assert np.isnan(values[8:16, 8:16]).all() and np.isfinite(values[:8]).all()
    name, data = download(page, "get.png", tmp_path)
    assert name == "slice-17x17.png" and data.startswith(b"\x89PNG")
    section_button(page, "prepare.html").click()
    name, data = download(page, "get.html", tmp_path)
    assert name == "slice-17x17.html" and b"plotly" in data and b'"surface"' in data

    evil = tmp_path / "evil.zip"
    meta = json.loads((store / "loss" / "zarr.json").read_text())
    meta["codecs"] = [{"name": "bytes"}, {"name": "numcodecs.pickle"}]
    with zipfile.ZipFile(evil, "w") as archive:
        for path in sorted(store.rglob("*")):
            name = str(path.relative_to(store))
            if path.is_file():
                archive.writestr(name, json.dumps(meta) if name == "loss/zarr.json" else path.read_bytes())
    page.locator(UPLOADER).set_input_files(str(evil))
    error = page.locator('[data-testid="stAlertContentError"]').filter(has_text="evil")
    error.wait_for(timeout=60_000)
    assert "codec 'numcodecs.pickle' is refused" in error.inner_text().replace("\u2060", "")  # escape's joiners
    assert page.locator('[data-testid="stException"]').count() == 0
