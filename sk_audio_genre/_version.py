"""The package version: one home, read by ``sk_audio_genre.__version__``, the command line
and the model format (a leaf, so that no module imports the package itself for it)."""

__version__ = "0.1.0"
