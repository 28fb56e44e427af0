"""dotcli: improve the samples of a trained GAN with its own discriminator."""

__version__ = "0.1.0"


class DotcliError(Exception):
    """A user-facing error: printed as one line, exit code non-zero."""
