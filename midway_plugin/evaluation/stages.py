"""Stages of ``midway bench quality``: one real subprocess each, logged to a file, run by a small scheduler.

A stage is a command line (``midway make-video``, ``midway pretrain``, ``mim train mmseg``, ...), the stages it
waits for, and a ``parse`` function that reads its numbers from the files the tool wrote. The scheduler runs up
to ``jobs`` stages at once, prints one line per finished stage, and skips the stages that depend on a failed one;
every other stage still runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stage:
    """One step of the benchmark.

    Attributes:
        key: unique id, ``"<unit>/<step>"`` (e.g. ``"full/seed0/pretrain"``).
        unit: what the stage belongs to (``"data"``, ``"reference"``, ``"full/seed0"``).
        step: the step name (``"pretrain"``, ``"seg-train"``, ...).
        cmd: the command line.
        log: file receiving the command's stdout and stderr.
        after: keys of the stages that must succeed first.
        parse: reads the stage's results (called after a zero exit; an exception fails the stage).
        cwd: working directory of the command.
        prepare: called right before the command (e.g. to write a config file).
    """

    key: str
    unit: str
    step: str
    cmd: list[str]
    log: Path
    after: tuple[str, ...] = ()
    parse: Callable[[], dict[str, Any]] | None = None
    cwd: Path | None = None
    prepare: Callable[[], None] | None = None
    status: str = "pending"  # pending | ok | failed | skipped
    seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def record(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "unit": self.unit,
            "step": self.step,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "log": str(self.log),
            "command": self.cmd,
            "result": self.result,
            "error": self.error,
        }


def tool_env() -> dict[str, str]:
    """The environment of every stage: one thread per process (``--jobs`` runs processes side by side)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"  # mim starts `python tools/train.py`
    return env


def midway_cmd(*args: str) -> list[str]:
    """``midway ARGS`` with this interpreter (the CLI of the installed or ``PYTHONPATH`` copy)."""
    return [sys.executable, "-m", "midway_plugin.cli", *args]


def mim_cmd(*args: str) -> list[str]:
    """``mim ARGS`` from this interpreter's environment."""
    mim = Path(sys.executable).parent / "mim"
    return [str(mim), *args] if mim.is_file() else [sys.executable, "-m", "mim", *args]


def _run(stage: Stage, env: dict[str, str]) -> None:
    start = time.perf_counter()
    stage.log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if stage.prepare is not None:
            stage.prepare()
        with stage.log.open("w") as fh:
            fh.write("$ " + " ".join(stage.cmd) + "\n")
            fh.flush()
            proc = subprocess.run(
                stage.cmd, cwd=stage.cwd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT
            )
        if proc.returncode != 0:
            stage.status, stage.error = "failed", f"exit code {proc.returncode}: {_last_error_line(stage.log)}"
        else:
            stage.result = stage.parse() if stage.parse is not None else {}
            stage.status = "ok"
    except Exception as err:  # a parse or prepare failure is this stage's failure, not the run's
        stage.status, stage.error = "failed", f"{type(err).__name__}: {err}"
    stage.seconds = time.perf_counter() - start


def _last_error_line(log: Path) -> str:
    """The most informative line of a failed command's log (the last error-like line, else the last line)."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "(empty log)"


def run_stages(stages: list[Stage], jobs: int, on_done: Callable[[Stage], None]) -> None:
    """Runs the stages (list order = priority) with up to ``jobs`` at a time; ``on_done`` after each one.

    A stage whose dependency did not succeed is marked ``skipped`` (and reported through ``on_done``).
    """
    by_key = {s.key: s for s in stages}
    for s in stages:
        missing = [k for k in s.after if k not in by_key]
        if missing:
            raise ValueError(f"stage {s.key} waits for unknown stage(s) {missing}")
    env = tool_env()
    lock = threading.Lock()
    running: dict[Future[None], Stage] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while True:
            progressed = True
            while progressed:  # resolve skips until nothing changes
                progressed = False
                for s in stages:
                    if s.status == "pending" and any(by_key[k].status in ("failed", "skipped") for k in s.after):
                        bad = next(k for k in s.after if by_key[k].status in ("failed", "skipped"))
                        s.status, s.error = "skipped", f"needs {bad}, which did not succeed"
                        with lock:
                            on_done(s)
                        progressed = True
            ready = [s for s in stages if s.status == "pending" and all(by_key[k].status == "ok" for k in s.after)]
            for s in ready[: max(0, jobs - len(running))]:
                s.status = "running"
                running[pool.submit(_run, s, env)] = s
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                stage = running.pop(fut)
                fut.result()
                with lock:
                    on_done(stage)


def read_json(path: Path) -> Any:
    """A JSON file, with an error naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err
