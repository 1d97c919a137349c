"""Which checkpoint ``midway pretrain --resume`` continues from: a file, a run directory, or ``last``.

A directory (or ``last`` = this config's ``output_dir``) resumes from the newest checkpoint in it that loads:
``last.ckpt`` and ``step-*.ckpt`` are tried newest first (modification time), and every one skipped is reported
with the reason (a truncated ``last.ckpt`` left by a full disk or a node dying mid-write falls back to the step
checkpoint before it). An explicit file that does not load is an error that names the newest loadable alternative.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from midway_plugin.lightly.atomic_checkpoint import TEMP_MARKER
from midway_plugin.lightly.checkpoint import CheckpointError, load_lightning_checkpoint
from midway_plugin.lightly.config_types import PretrainConfigError

CHECKPOINT_SUBDIR = "checkpoints"


@dataclass
class ResumeChoice:
    """The checkpoint to resume from, its global step, and ``(path, reason)`` of the newer ones skipped."""

    path: Path
    global_step: int
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def checkpoint_files(directory: Path) -> list[Path]:
    """The ``*.ckpt`` files of a directory, newest first (temp files of interrupted saves excluded)."""
    files = [p for p in directory.glob("*.ckpt") if p.is_file() and TEMP_MARKER not in p.name]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt"), reverse=True)


def _checkpoint_dir(directory: Path) -> Path:
    sub = directory / CHECKPOINT_SUBDIR
    return sub if sub.is_dir() else directory


def newest_loadable(directory: Path, exclude: Path | None = None) -> tuple[ResumeChoice | None, list[tuple[Path, str]]]:
    """The newest checkpoint of ``directory`` (or its ``checkpoints/``) that loads (or None), and those skipped."""
    skipped: list[tuple[Path, str]] = []
    for path in checkpoint_files(_checkpoint_dir(directory)):
        if exclude is not None and path == exclude:
            continue
        try:
            checkpoint = load_lightning_checkpoint(path)
        except CheckpointError as err:
            skipped.append((path, str(err).removeprefix(f"{path}: ")))
            continue
        return ResumeChoice(path, int(checkpoint.get("global_step", 0)), skipped), skipped
    return None, skipped


def resolve_resume(resume: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> ResumeChoice:
    """The checkpoint ``--resume RESUME`` means.

    Args:
        resume: A checkpoint file, a run directory (its ``checkpoints/`` is searched), a checkpoint directory, or
            ``"last"`` (this run's ``output_dir``).
        output_dir: The config's ``output_dir``.

    Raises:
        PretrainConfigError: The file does not load (naming the reason and any loadable alternative), or the directory
            holds no loadable checkpoint (naming each file and why).
    """
    target = Path(output_dir) if str(resume) == "last" else Path(os.path.expanduser(str(resume)))
    if target.is_dir():
        choice, skipped = newest_loadable(target)
        if choice is None:
            if not skipped:
                raise PretrainConfigError(f"--resume {resume}: no checkpoint (*.ckpt) in {_checkpoint_dir(target)}")
            reasons = "; ".join(f"{p.name}: {reason}" for p, reason in skipped)
            raise PretrainConfigError(
                f"--resume {resume}: no checkpoint in {_checkpoint_dir(target)} loads ({reasons})"
            )
        return choice
    if not target.exists():
        raise PretrainConfigError(f"--resume {str(target)!r}: no such checkpoint file or directory")
    try:
        checkpoint = load_lightning_checkpoint(target)
    except CheckpointError as err:
        alternative, _ = newest_loadable(target.parent, exclude=target)
        hint = (
            f"; the newest checkpoint that loads in that directory is {alternative.path} (global step "
            f"{alternative.global_step}): resume from it, or with --resume {target.parent}"
            if alternative is not None
            else ""
        )
        raise PretrainConfigError(f"--resume: {err}{hint}") from err
    return ResumeChoice(target, int(checkpoint.get("global_step", 0)))


__all__ = ["ResumeChoice", "checkpoint_files", "newest_loadable", "resolve_resume"]
