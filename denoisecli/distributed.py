"""PyTorch's own distributed stack: read what ``torchrun`` sets, nothing home-made.

Run any command under ``torchrun --nproc_per_node=N`` and each process sees its RANK and
WORLD_SIZE here; a plain run is rank 0 of 1 and never touches ``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from denoisecli.errors import DenoiseError


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def current_rank() -> Rank:
    return Rank(
        rank=int(os.environ.get("RANK", 0)),
        world=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def start(device: torch.device) -> Rank:
    """Join the process group torchrun describes (NCCL on CUDA, gloo otherwise)."""
    rank = current_rank()
    if rank.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def from_main(value: float, device: torch.device) -> float:
    """``value`` as rank 0 has it (a broadcast); unchanged in a single process."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def device_for(name: str, rank: Rank) -> torch.device:
    """``auto`` -> cuda (this rank's GPU), then mps, then cpu; otherwise the named device."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DenoiseError("--device cuda was asked for but no CUDA GPU is available")
        torch.cuda.set_device(rank.local_rank % torch.cuda.device_count())
        return torch.device("cuda", rank.local_rank % torch.cuda.device_count())
    return torch.device(name)
