"""denoisecli: a command-line photo denoiser built on a learned convolutional autoencoder."""

__version__ = "0.1.0"
