"""The denoising autoencoders."""

from denoisecli.models.autoencoder import (
    DEFAULT_VARIANT,
    HEADS,
    VARIANTS,
    Autoencoder,
    ModelConfig,
    build_model,
    coarse_decoders,
    widened,
    with_chroma_input,
)
from denoisecli.models.blocks import fold_batch_norm

__all__ = [
    "DEFAULT_VARIANT",
    "HEADS",
    "VARIANTS",
    "Autoencoder",
    "ModelConfig",
    "build_model",
    "coarse_decoders",
    "fold_batch_norm",
    "widened",
    "with_chroma_input",
]
