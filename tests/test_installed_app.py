"""The app from the installed package (not the clone): build the wheel, install it with ``--no-deps`` into a fresh
venv that reuses this test environment's packages, and serve it with ``losslab app`` from an empty folder."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from losslab.app.live_server import SERVER_FLAGS, free_port, served

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding the built wheel, with this environment's site-packages on its path (no editable finder)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: building writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                                "__pycache__", ".*_cache", ".hypothesis",
                                                                "test-artifacts"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist")], check=True, cwd=work, timeout=300)
    (wheel,) = (work / "dist").glob("losslab-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                         capture_output=True, text=True).stdout.strip()
    # a plain path line: this environment's packages, without its .pth files (the clone's editable finder)
    (Path(own) / "test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   timeout=300)
    return venv


def run_in(venv: Path, code: str, folder: Path) -> str:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=folder, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_package_is_the_installed_one_with_its_pages_and_lessons(installed, tmp_path):
    out = run_in(installed, "import losslab.app, losslab.lessons as l; print(losslab.app.__file__); "
                            "print(len(l.names()))", tmp_path)
    location, lessons = out.split()
    assert str(installed) in location and str(ROOT) not in location
    assert int(lessons) >= 13


def test_every_page_runs_from_the_installed_router(installed, tmp_path):
    code = """
from pathlib import Path
from streamlit.testing.v1 import AppTest
import losslab.app
router = Path(losslab.app.__file__).parent / "router.py"
at = AppTest.from_file(str(router), default_timeout=240).run()
assert not at.exception, [e.value for e in at.exception]
assert at.get("component_instance"), "Explore drew no race"
for page in ("sweeps.py", "lessons.py"):
    at.switch_page(str(router.parent / page)).run()
    assert not at.exception, (page, [e.value for e in at.exception])
print("ok")
"""
    assert run_in(installed, code, tmp_path).strip().endswith("ok")


def test_losslab_app_serves_from_any_folder_and_passes_arguments_to_streamlit(installed, tmp_path):
    port = free_port()
    command = [str(installed / "bin" / "losslab"), "app", *SERVER_FLAGS, "--server.port", str(port)]
    with served(command, port, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}) as server:
        page = urllib.request.urlopen(server.url, timeout=10).read().decode()
        assert "<title>" in page and "streamlit" in page.lower()
        with open(f"/proc/{server.pid}/cmdline", "rb") as cmdline:  # the server is losslab app's own process
            arguments = cmdline.read().rstrip(b"\0").split(b"\0")
        assert b"--server.maxUploadSize=16" in arguments  # the app's settings (losslab/app/config.toml) …
        assert arguments[-1] == str(port).encode()  # … then the caller's arguments
