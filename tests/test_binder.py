"""The Binder setup, built the way Binder (repo2docker) builds it: a fresh virtual environment,
``pip install -r binder/requirements.txt`` from the repository root, ``binder/postBuild`` if
there is one, then ``binder/start <command>``, here a command that executes every notebook. It
checks that the notebooks ran in that environment, keyless, against the demo API that
``start`` launched."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"

RUNNER = """
import glob, os, sys
import nbformat
from nbclient import NotebookClient

work = sys.argv[1]
probe = "import os, sys; print('KERNEL-PYTHON', sys.executable); " \\
        "print('BASE-URL', os.environ.get('SENDKIT_BASE_URL'))"
for path in sorted(glob.glob(os.path.join(work, "*.ipynb"))):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": work}}).execute()
    nbformat.write(nb, path + ".out")
    print("ran", os.path.basename(path), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_binder_files_are_in_place() -> None:
    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable"
    text = start.read_text()
    assert text.startswith("#!/bin/bash") and 'exec "$@"' in text
    assert "demo-server" in text and "sk_demo_workspace_key" in text
    assert "sendkit-nb sync --store" in text and "SENDKIT_STORE" in text
    requirements = (BINDER / "requirements.txt").read_text().splitlines()
    pins = [r for r in requirements if r and not r.startswith(("#", "-e"))]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", r) for r in pins), pins
    assert any(r.startswith("-e .") for r in requirements), "the package itself is installed"
    # repo2docker's default Python is older than the package allows: runtime.txt picks one.
    runtime = (BINDER / "runtime.txt").read_text().strip()
    version = tuple(int(x) for x in runtime.removeprefix("python-").split("."))
    needs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert needs == ">=3.11" and version >= (3, 11)


@pytest.mark.slow
def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SENDKIT_", "VIRTUAL_ENV"))}
    env = {
        **clean,
        "PATH": f"{venv / 'bin'}{os.pathsep}{clean.get('PATH', '')}",
        "TMPDIR": str(tmp_path),
    }
    # As repo2docker does: from the repository root (so "-e ." is this repository).
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    post_build = BINDER / "postBuild"
    if post_build.exists():
        subprocess.run([str(post_build)], cwd=ROOT, env=env, check=True, timeout=300)

    work = tmp_path / "notebooks"
    work.mkdir()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        shutil.copy(nb, work)
    runner = tmp_path / "run_notebooks.py"
    runner.write_text(RUNNER)
    port = _free_port()
    # start_new_session: binder/start leaves the demo API running in the background (as on
    # Binder, for the server's lifetime); its process group is ended below.
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [str(BINDER / "start"), str(python), str(runner), str(work)],
        cwd=ROOT,
        env={**env, "SENDKIT_DEMO_PORT": str(port), "SENDKIT_STORE": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, (out[-2000:], err[-4000:])
    assert out.count("ran ") == len(notebooks)

    for nb_path in notebooks:
        nb = nbformat.read(work / f"{nb_path.name}.out", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], nb_path.name
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        # The kernel ran on the Binder environment's Python ...
        assert f"KERNEL-PYTHON {python}" in text, nb_path.name
        # ... against the demo API that binder/start launched, through the exported variables
        # (so no embedded demo server was needed).
        assert f"BASE-URL http://127.0.0.1:{port}" in text, nb_path.name
        assert "using the embedded demo API" not in text, nb_path.name
    assert (
        (tmp_path / f"sendkit-demo-api-{port}.log")
        .read_text()
        .startswith(f"SendKit demo API on http://127.0.0.1:{port}")
    )
    # binder/start synced the demo workspace into the store, from the demo API it started.
    sync_log = (tmp_path / f"sendkit-store-sync-{port}.log").read_text()
    assert "this sync: 7 fetched, 0 unchanged, 0 failed" in sync_log, sync_log
    opened = subprocess.run(
        [
            str(python),
            "-c",
            "import sendkit_nb as sk, sys; s = sk.open_store(sys.argv[1]); "
            "print(s.campaigns().height, s.leads().height)",
            str(store),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert opened.stdout.split() == ["7", "8820"], opened.stderr
