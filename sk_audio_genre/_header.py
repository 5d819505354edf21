"""What a file's header says: whether it is audio this library reads, and its format.

The one home of the audio extensions and of header probing (``soundfile.info``), shared
by the decoders (:mod:`~sk_audio_genre._audio`) and the dataset loaders
(:mod:`~sk_audio_genre.datasets`).  Only :mod:`soundfile` is imported here.
"""

from __future__ import annotations

import os

import soundfile as sf

#: Extensions of the audio files this library reads (libsndfile's formats, with mp3 and
#: ogg/opus), lossless first: the order is the preference when one track exists in several.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".aiff", ".aif", ".aifc", ".au", ".snd", ".caf", ".w64",
    ".rf64", ".ogg", ".oga", ".opus", ".mp3",
)  # fmt: skip


class AudioFileError(ValueError):
    """A file that cannot give features; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_header(path: str) -> sf._SoundFileInfo:
    """The file's header (``soundfile.info``), or the reason it cannot be used.

    Raises
    ------
    AudioFileError
        If the file is missing, not a regular file, empty, not audio that libsndfile
        reads, or its header has no samples, rate or channels.
    """
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    if not os.path.isfile(path):
        raise AudioFileError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile reports every kind of bad header this way
        raise AudioFileError(path, f"not readable as audio ({short_error(exc)})") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(
            path, f"invalid header (samplerate={info.samplerate}, channels={info.channels})"
        )
    if info.frames <= 0:
        raise AudioFileError(path, "contains no audio frames")
    return info


def short_error(exc: BaseException) -> str:
    """libsndfile's own words (``"Format not recognised."``), without the path it repeats."""
    text = getattr(exc, "error_string", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
