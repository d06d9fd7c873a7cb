"""Inputs -> output paths, and a batch runner that keeps going past bad files.

Shared by ``corrupt`` and ``denoise``. Under ``torchrun`` each rank takes every N-th job, so a
folder of millions of photos spreads over many processes with no new machinery.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from denoisecli.errors import DenoiseError
from denoisecli.imageio import IMAGE_EXTENSIONS, find_images


@dataclass(frozen=True)
class Job:
    source: Path
    destination: Path


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    deblurred: list[str] = field(default_factory=list)  # denoise: sharpened instead (denoisecli.deblur)

    def line(self) -> str:
        rate = self.megapixels / self.seconds if self.seconds else 0.0
        line = (
            f"{self.done} written, {self.skipped} skipped (already there), {len(self.failures)} failed; "
            f"{self.megapixels:.1f} MP in {self.seconds:.1f} s ({rate:.2f} MP/s)"
        )
        if self.deblurred:
            shown = ", ".join(self.deblurred[:MAX_NAMES_SHOWN])
            more = f" and {len(self.deblurred) - MAX_NAMES_SHOWN} more" if len(self.deblurred) > MAX_NAMES_SHOWN else ""
            line += (
                f"\n{len(self.deblurred)} measured noise-free and evenly blurred, so were deblurred instead "
                f"(--no-deblur keeps them as they are): {shown}{more}"
            )
        return line

    def merge(self, other: Summary) -> None:
        self.done += other.done
        self.skipped += other.skipped
        self.megapixels += other.megapixels
        self.seconds = max(self.seconds, other.seconds)
        self.failures += other.failures
        self.deblurred += other.deblurred


MAX_NAMES_SHOWN = 5


def expand_inputs(inputs: list[str]) -> list[str]:
    """Quoted globs (``"photos/*.jpg"``) expand here; plain paths pass through, even if missing."""
    expanded: list[str] = []
    for item in inputs:
        if any(character in item for character in "*?[") and not Path(item).exists():
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise DenoiseError(f"{item}: no files match")
            expanded.extend(matches)
        else:
            expanded.append(item)
    return expanded


def plan_jobs(
    inputs: list[str], output: str | None, suffix: str, extension: str | None = None, recursive: bool = True
) -> list[Job]:
    """Map every input image to its output path.

    One input file with ``-o`` -> that file. Otherwise ``-o`` is a folder, and images found in a
    folder keep their path below it (the tree is mirrored). Without ``-o``, outputs go beside
    their inputs with ``suffix`` added to the stem. ``extension`` replaces the input's.
    """
    paths = expand_inputs(inputs)
    found = find_images(paths, recursive=recursive)
    single_file = len(paths) == 1 and not Path(paths[0]).is_dir()
    jobs = []
    for source, root in found:
        new_suffix = extension or source.suffix
        if output is None:
            destination = source.with_name(source.stem + suffix + new_suffix)
        elif single_file and not Path(output).is_dir():
            destination = Path(output)
        else:
            relative = source.relative_to(root) if source.is_relative_to(root) else Path(source.name)
            destination = (Path(output) / relative).with_suffix(new_suffix)
        jobs.append(Job(source, destination))
    return jobs


def run_jobs(
    jobs: list[Job],
    work: Callable[[Job], float],
    overwrite: bool = False,
    on_progress: Callable[[Job, float], None] | None = None,
) -> Summary:
    """Run ``work`` (which returns the megapixels it processed) on every job.

    Existing outputs are skipped unless ``overwrite``; an output that would replace its own input
    is refused even with ``overwrite``. A ``DenoiseError`` from one job is recorded and the batch
    goes on; anything else is a bug and propagates.
    """
    summary = Summary()
    started = time.perf_counter()
    for job in jobs:
        megapixels = 0.0
        try:
            if job.destination.suffix.lower() not in IMAGE_EXTENSIONS:
                raise DenoiseError(f"{job.destination}: unsupported output format {job.destination.suffix or '(none)'}")
            if job.destination.exists() and job.source.exists() and job.destination.samefile(job.source):
                raise DenoiseError(f"{job.source}: refusing to overwrite the input itself")
            if job.destination.exists() and not overwrite:
                summary.skipped += 1
            else:
                megapixels = work(job)
                summary.done += 1
                summary.megapixels += megapixels
        except DenoiseError as error:
            summary.failures.append((str(job.source), str(error)))
        if on_progress:
            on_progress(job, megapixels)
    summary.seconds = time.perf_counter() - started
    return summary


def shard(jobs: list[Job], rank: int, world: int) -> list[Job]:
    """Every ``world``-th job starting at ``rank``: each job lands on exactly one rank."""
    return jobs[rank::world]
