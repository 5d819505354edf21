"""What a file's header says: whether it is audio this library reads, and its format.

The one home of the audio extensions and of header probing, shared by the decoders
(:mod:`~sk_audio_genre._audio`) and the dataset loaders (:mod:`~sk_audio_genre.datasets`).
libsndfile (:mod:`soundfile`) reads most formats; the ones it cannot (AAC in ``.m4a``, WMA,
...) are read through FFmpeg by PyAV (the ``av`` package, with FFmpeg inside its wheel),
installed with ``pip install "sk-audio-genre[formats]"``.  Without it such a file is a bad
file whose reason names the extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import soundfile as sf

#: Extensions of the audio files this library reads (libsndfile's formats, with mp3 and
#: ogg/opus), lossless first: the order is the preference when one track exists in several.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".aiff", ".aif", ".aifc", ".au", ".snd", ".caf", ".w64",
    ".rf64", ".ogg", ".oga", ".opus", ".mp3",
)  # fmt: skip
#: Extensions of formats libsndfile cannot read, decoded through FFmpeg by PyAV.
FFMPEG_EXTENSIONS: tuple[str, ...] = (
    ".m4a", ".m4b", ".mp4", ".aac", ".wma", ".webm", ".mka", ".ac3", ".amr", ".mp2",
)  # fmt: skip
#: Every extension a folder is searched for.
ALL_EXTENSIONS = AUDIO_EXTENSIONS + FFMPEG_EXTENSIONS
#: What to install for the FFmpeg formats.
FORMATS_EXTRA = "pip install 'sk-audio-genre[formats]'"


@dataclass(frozen=True)
class Header:
    """What decoding needs to know of a file: rate, channels, frames, container, codec.

    ``format`` is libsndfile's major format (``"WAV"``, ``"AU"``, ...) or ``"FFMPEG"``
    for files PyAV decodes; ``frames`` is then the container's estimate.
    """

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str


class AudioFileError(ValueError):
    """A file that cannot give features; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_header(path: str) -> Header:
    """The file's header, or the reason it cannot be used.

    Raises
    ------
    AudioFileError
        If the file is missing, not a regular file, empty, not audio that libsndfile (or
        PyAV, for :data:`FFMPEG_EXTENSIONS`) reads, or its header has no samples, rate or
        channels.
    """
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    if not os.path.isfile(path):
        raise AudioFileError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        sf_info = sf.info(path)
        info = Header(sf_info.samplerate, sf_info.channels, sf_info.frames, sf_info.format,
                      sf_info.subtype)
    except Exception as exc:  # libsndfile reports every kind of bad header this way
        if os.path.splitext(path)[1].lower() not in FFMPEG_EXTENSIONS:
            raise AudioFileError(path, f"not readable as audio ({short_error(exc)})") from None
        info = _ffmpeg_header(path)
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


def _ffmpeg_header(path: str) -> Header:
    """The header of a file libsndfile cannot read, from FFmpeg through PyAV."""
    extension = os.path.splitext(path)[1].lower()
    try:
        import av
    except ImportError:
        raise AudioFileError(
            path, f"{extension} files need the optional FFmpeg decoder: {FORMATS_EXTRA}"
        ) from None
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise AudioFileError(path, "holds no audio stream")
            stream = container.streams.audio[0]
            seconds = (float(stream.duration * stream.time_base) if stream.duration
                       else (container.duration or 0) / 1_000_000)
            rate = int(stream.sample_rate or 0)
            return Header(rate, int(stream.channels or 0), int(round(seconds * rate)),
                          "FFMPEG", stream.codec_context.name)
    except AudioFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg reports bad files in many ways
        raise AudioFileError(path, f"not readable as audio ({short_error(exc)})") from None
