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
#: The highest sample rate a header may claim: 768 kHz, twice DXD's 352.8 kHz and above
#: every rate audio is recorded at.  A larger value is a damaged or crafted header.
MAX_FILE_SAMPLERATE = 768_000
#: The most channels a header may claim: 256, above the channel count of any recording
#: format (third-order ambisonics has 16, Dolby Atmos masters 128).
MAX_FILE_CHANNELS = 256

#: The first bytes of the containers this library reads, for saying what a file is when
#: libsndfile cannot open it (``corrupt MP3 data`` is more useful than "not readable").
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"), (0, b"RF64", "WAV"), (0, b"BW64", "WAV"), (0, b"fLaC", "FLAC"),
    (0, b"OggS", "Ogg"), (0, b".snd", "Sun/NeXT audio"), (0, b"FORM", "AIFF"),
    (0, b"caff", "CAF"), (0, b"riff", "Wave64"), (0, b"ID3", "MP3"), (4, b"ftyp", "MPEG-4"),
    (0, b"\x30\x26\xb2\x75", "WMA/ASF"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
)  # fmt: skip
#: libsndfile's message for an mp3 it cannot parse, which says nothing true about the file.
_MISLEADING = "File does not exist or is not a regular file"


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
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        # a bytes path: libsndfile opens any name, UTF-8 or not (os.fsencode undoes the
        # surrogate escapes Python decodes undecodable bytes of a file name into)
        sf_info = sf.info(os.fsencode(path))
        info = Header(sf_info.samplerate, sf_info.channels, sf_info.frames, sf_info.format,
                      sf_info.subtype)
    except Exception as exc:  # libsndfile reports every kind of bad header this way
        if os.path.splitext(path)[1].lower() not in FFMPEG_EXTENSIONS:
            raise AudioFileError(path, unreadable_reason(path, exc)) from None
        info = _ffmpeg_header(path)
    if not (0 < info.samplerate <= MAX_FILE_SAMPLERATE and 0 < info.channels <= MAX_FILE_CHANNELS):
        raise AudioFileError(
            path, f"invalid header (samplerate={info.samplerate}, channels={info.channels}; "
            f"audio has 1 to {MAX_FILE_CHANNELS} channels at up to {MAX_FILE_SAMPLERATE} Hz)"
        )
    if info.frames <= 0:
        raise AudioFileError(path, "contains no audio frames")
    return info


def unreadable_reason(path: str, exc: BaseException) -> str:
    """Why libsndfile could not open ``path``, in words that are true of the file.

    A file that starts like a known audio container is *corrupt* (or truncated); one that
    starts like nothing known is *not audio*.  libsndfile's own message is kept unless it
    misleads (for an mp3 it cannot parse it says the file may be a pipe).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    detail = short_error(exc)
    detail = "" if detail.startswith(_MISLEADING) else f" ({detail})"
    kinds = [kind for start, signature, kind in _SIGNATURES
             if head[start : start + len(signature)] == signature]
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG frame's sync
        kinds.append("MP3")
    if kinds:
        return f"corrupt or truncated {kinds[0]} data{detail}"
    looks_like = "text" if _is_text(head) else "binary data of an unknown format"
    return f"not audio: its content is {looks_like}{detail}"


def _is_text(head: bytes) -> bool:
    """Whether a file's first bytes read as printable UTF-8 text (a character cut at the
    end of ``head`` does not count against it)."""
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")
    return "\ufffd" not in text and all(c.isprintable() or c in "\t\r\n" for c in text)


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
        with open(path, "rb") as fh, av.open(fh) as container:
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
