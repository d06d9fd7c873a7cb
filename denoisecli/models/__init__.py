"""The denoising autoencoders."""

from denoisecli.models.autoencoder import (
    DEFAULT_VARIANT,
    HEADS,
    VARIANTS,
    Autoencoder,
    ModelConfig,
    build_model,
    channel_activity,
    coarse_decoders,
    narrowed,
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
    "channel_activity",
    "coarse_decoders",
    "fold_batch_norm",
    "narrowed",
    "widened",
    "with_chroma_input",
]
