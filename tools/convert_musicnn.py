"""Convert musicnn's MSD_musicnn TensorFlow 1 checkpoint into the arrays this package ships.

The published artefact is the ``musicnn`` 0.1.0 wheel on PyPI (Pons & Serra 2019, ISC
licence).  Fetch it once while developing (nothing in the package downloads anything)::

    pip download musicnn==0.1.0 --no-deps -d .whl/
    python tools/convert_musicnn.py .whl/musicnn-0.1.0-py3-none-any.whl

The script unpacks the checkpoint folder ``musicnn/MSD_musicnn/`` from the wheel, reads it
with ``tf.compat.v1.train.NewCheckpointReader`` and writes into
``sk_audio_genre/data/musicnn/`` (or ``--out``):

``MSD_musicnn.npz``
    Every model variable (``conv2d/kernel``, ``batch_normalization_3/moving_mean``, ...,
    the default ``tf.compat.v1.layers`` names) as a float32 array; Adam's slots and
    ``beta1_power``/``beta2_power`` (training state) are left out.
``SOURCE.json``
    The wheel's SHA-256, the checkpoint files' SHA-256, and each variable's name, shape
    and the SHA-256 of its bytes as read from the checkpoint; the tests check the shipped
    arrays against it, and against the checkpoint itself when the wheel is at hand.
``LICENSE.md``
    musicnn's copyright and licence text, copied from the wheel.

``--check`` compares an existing output folder with the wheel instead of writing.
Needs TensorFlow (installed with this package).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
CHECKPOINT_DIR = "musicnn/MSD_musicnn/"
LICENSE_MEMBER = "musicnn-0.1.0.dist-info/LICENSE.md"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "sk_audio_genre" / "data" / "musicnn"
ARRAYS_NAME = "MSD_musicnn.npz"
SOURCE_NAME = "SOURCE.json"
LICENSE_NAME = "LICENSE.md"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def is_model_variable(name: str) -> bool:
    """True for the network's own variables, False for the optimizer's training state."""
    return "Adam" not in name and name not in ("beta1_power", "beta2_power")


def read_checkpoint(wheel: Path) -> tuple[dict[str, np.ndarray], dict[str, str], bytes]:
    """The model variables of MSD_musicnn, the checkpoint files' digests, and the licence."""
    import tensorflow as tf

    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        members = [m for m in archive.namelist() if m.startswith(CHECKPOINT_DIR)]
        if not members:
            raise SystemExit(f"{wheel} has no {CHECKPOINT_DIR} folder; is it musicnn 0.1.0?")
        for member in members:
            archive.extract(member, tmp)
        licence = archive.read(LICENSE_MEMBER)
        folder = Path(tmp) / CHECKPOINT_DIR
        digests = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
        # The checkpoint's files are named ".index"/".data-..." (an empty prefix), so the
        # reader gets the folder path with its trailing slash, as musicnn's own Saver does.
        reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
        names = sorted(n for n in reader.get_variable_to_shape_map() if is_model_variable(n))
        variables = {name: np.asarray(reader.get_tensor(name)) for name in names}
    for name, value in variables.items():
        if value.dtype != np.float32:
            raise SystemExit(f"{name} is {value.dtype}, expected float32")
    return variables, digests, licence


def source_record(wheel: Path, variables: dict[str, np.ndarray], digests: dict[str, str]) -> dict:
    return {
        "artefact": WHEEL_NAME,
        "artefact_sha256": sha256_file(wheel),
        "fetch": "pip download musicnn==0.1.0 --no-deps",
        "checkpoint": CHECKPOINT_DIR,
        "checkpoint_files_sha256": digests,
        "model": "MSD_musicnn (Pons & Serra 2019), 50 Million Song Dataset tags",
        "licence": "ISC, see LICENSE.md",
        "converted_by": "tools/convert_musicnn.py",
        "variables": [
            {
                "name": name,
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                "sha256": sha256_bytes(np.ascontiguousarray(value).tobytes()),
            }
            for name, value in variables.items()
        ],
    }


def write(out: Path, wheel: Path) -> None:
    variables, digests, licence = read_checkpoint(wheel)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / ARRAYS_NAME, **variables)
    (out / LICENSE_NAME).write_bytes(licence)
    record = source_record(wheel, variables, digests)
    record["arrays_sha256"] = sha256_file(out / ARRAYS_NAME)
    (out / SOURCE_NAME).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    n = sum(v.size for v in variables.values())
    print(f"wrote {len(variables)} variables ({n:,} numbers) to {out / ARRAYS_NAME}")


def check(out: Path, wheel: Path) -> int:
    """0 when the shipped arrays equal the checkpoint's variables exactly, else 1."""
    variables, _, licence = read_checkpoint(wheel)
    with np.load(out / ARRAYS_NAME, allow_pickle=False) as shipped:
        shipped_names = set(shipped.files)
        problems = sorted(shipped_names ^ set(variables))
        for name, value in variables.items():
            if name in shipped_names and not (
                shipped[name].dtype == value.dtype and np.array_equal(shipped[name], value)
            ):
                problems.append(f"{name} differs")
    if (out / LICENSE_NAME).read_bytes() != licence:
        problems.append("LICENSE.md differs from the wheel's")
    for problem in problems:
        print(problem)
    print("OK: identical to the checkpoint" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help=f"path of {WHEEL_NAME}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.out, args.wheel)
    write(args.out, args.wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
