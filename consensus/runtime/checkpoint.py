"""Checkpoints: each rank writes its agents' state atomically, with a checksum.

Layout: ``DIR/checkpoints/round_000100/rank_00003.pt`` plus ``rank_00003.sha256``.
A file is written to a temporary name and renamed, then its checksum likewise,
so a crash leaves either a complete, verifiable pair or nothing usable. Batches
are a hash of (seed, agent, round), so (round, parameters, algorithm state,
counters) is the whole random state of a run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

_ROUND = re.compile(r"^round_(\d{6,})$")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def round_dir(root: Path, t: int) -> Path:
    """The folder of round ``t``'s checkpoint."""
    return root / "checkpoints" / f"round_{t:06d}"


def save(root: Path, t: int, rank: int, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, dicts of tensors) for ``rank`` at round ``t``."""
    folder = round_dir(root, t)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rank_{rank:05d}.pt"
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _atomic_write_bytes(folder / f"rank_{rank:05d}.sha256", _sha256(path).encode())
    return path


def is_valid(root: Path, t: int, rank: int) -> bool:
    """True when rank's file of round ``t`` exists and matches its checksum."""
    folder = round_dir(root, t)
    path, digest = folder / f"rank_{rank:05d}.pt", folder / f"rank_{rank:05d}.sha256"
    if not (path.is_file() and digest.is_file()):
        return False
    try:
        return digest.read_text().strip() == _sha256(path)
    except OSError:
        return False


def load(root: Path, t: int, rank: int) -> dict[str, Any]:
    """Read rank's checkpoint of round ``t`` (``weights_only``: nothing is unpickled)."""
    return torch.load(
        round_dir(root, t) / f"rank_{rank:05d}.pt", weights_only=True, map_location="cpu"
    )


def rounds_on_disk(root: Path) -> list[int]:
    """Rounds that have a checkpoint folder, newest first."""
    folder = root / "checkpoints"
    if not folder.is_dir():
        return []
    found = [int(m.group(1)) for p in folder.iterdir() if (m := _ROUND.match(p.name))]
    return sorted(found, reverse=True)


def newest_complete(root: Path, world: int) -> int | None:
    """The newest round for which every rank's checkpoint verifies (single-process view)."""
    for t in rounds_on_disk(root):
        if all(is_valid(root, t, r) for r in range(world)):
            return t
    return None


def prune(root: Path, keep: int = 2) -> None:
    """Delete all but the ``keep`` newest round folders."""
    for t in rounds_on_disk(root)[keep:]:
        shutil.rmtree(round_dir(root, t), ignore_errors=True)
