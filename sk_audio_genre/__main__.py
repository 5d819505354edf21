"""``python -m sk_audio_genre``: the ``sk-audio-genre`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
