#!/usr/bin/env python
"""Run musicnn 0.1.0's OWN code on GTZAN tracks, and make the test fixture from its outputs.

Not part of the package or the test suite: it needs TensorFlow 1-style layers, so it runs
in a scratch virtual environment (Python 3.11, 2026-11-29)::

    python3 -m venv /tmp/musicnn_orig/venv && . /tmp/musicnn_orig/venv/bin/activate
    pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 librosa==0.11.0 soundfile
    pip install --no-deps .whl/musicnn-0.1.0-py3-none-any.whl   # pip download musicnn==0.1.0 --no-deps
    TF_USE_LEGACY_KERAS=1 python tools/run_original_musicnn.py              # -> /tmp/musicnn_orig
    python tools/run_original_musicnn.py --fixture tests/data/musicnn_original.npz

The second command (any environment with NumPy) keeps, for six tracks, what
``tests/test_musicnn_network.py`` compares the package against: the SHA-256 of the input
patches, and the per-patch taggram and penultimate layer of variant "b" below (and the
published variant's taggram, to show what the float16 overflow does).

What follows was written to run the original unmodified; its own notes:

Run the ORIGINAL musicnn 0.1.0 code (Pons & Serra 2019, ISC licence) with the
MSD_musicnn checkpoint on 20 GTZAN tracks and save every output for comparison
against a re-implementation.

The musicnn modules are imported unmodified from the installed 0.1.0 wheel
(`pip install --no-deps musicnn-0.1.0-py3-none-any.whl`).  Only
`musicnn.extractor.batch_data` is replaced at runtime:

  variant "a" (published): batch_data is wrapped by a pass-through recorder
      that calls the ORIGINAL function and returns its result unchanged (the
      wrapper only keeps a reference so that the exact network input can be
      saved).
  variant "b" (float32 log): same code as the original batch_data, except the
      compression is done in float32 after the float16 rounding:
          S16 = S.astype(float16); out = log10(10000 * S16.astype(float32) + 1)
      which avoids the float16 overflow (10000*S > 65504 -> inf) of the original.

Known defects of the published extractor() that the saved outputs work around
(without modifying the extractor):
  * For batches after the first, extractor() concatenates `cnn1_`, `cnn2_`,
    `cnn3_`, `penultimate_` from the FIRST batch instead of the current one (it
    unpacks them as midend1_/midend2_/midend3_/backend_ but never uses those
    names).  With BATCH_SIZE=1 every patch >0 of the returned cnn1/cnn2/cnn3/
    penultimate is a copy of patch 0 (taggram, timbral, temporal, mean_pool,
    max_pool are fine).  We save
    that verbatim as "<name>_as_returned", and the correct per-patch values as
    "<name>", obtained by calling the unmodified extractor() once per patch
    (batch_data patched to return just that one patch, so only the "first
    batch" code path - which is correct - is used).
  * timbral/temporal/cnn* are np.squeeze'd per batch and concatenated on axis 0,
    so the returned arrays are (n_patches*187, C).  We also store them reshaped
    to (n_patches, 187, C) (an exact reshape).
  * saver.restore() is wrapped in a bare try/except in extractor(), so a failed
    restore would silently leave random weights.  The script checks afterwards
    (restore without try/except + comparison of outputs) that it really loaded.
"""
import os
import sys
import time
import glob
import json

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # tf.compat.v1.layers needs Keras 2 (tf_keras) on TF >= 2.16
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import warnings
warnings.filterwarnings("ignore", category=UserWarning)   # tf.layers deprecation spam

import numpy as np
import librosa

if "--fixture" not in sys.argv:
    import tensorflow as tf
    import musicnn
    from musicnn import extractor as ext      # original module (calls disable_eager_execution at import)
    from musicnn import configuration as config
    from musicnn import models

OUT_DIR = "/tmp/musicnn_orig"
GTZAN = os.path.join(os.environ.get("SK_AUDIO_GENRE_DATA", "../shared/data"), "gtzan")
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
MODEL = "MSD_musicnn"
INPUT_LENGTH = 3

ORIG_BATCH_DATA = ext.batch_data if "--fixture" not in sys.argv else None


# ----------------------------------------------------------------------------------------------
# batch_data variants
# ----------------------------------------------------------------------------------------------
class Recorder:
    last = None


def batch_data_published(audio_file, n_frames, overlap):
    """(a) pass-through: call the original function, remember what it returned."""
    batch, audio_rep = ORIG_BATCH_DATA(audio_file, n_frames, overlap)
    Recorder.last = (batch, audio_rep)
    return batch, audio_rep


def batch_data_f32(audio_file, n_frames, overlap):
    """(b) identical to musicnn.extractor.batch_data except the log compression is in float32."""
    audio, sr = librosa.load(audio_file, sr=config.SR)
    audio_rep = librosa.feature.melspectrogram(y=audio,
                                               sr=sr,
                                               hop_length=config.FFT_HOP,
                                               n_fft=config.FFT_SIZE,
                                               n_mels=config.N_MELS).T
    audio_rep = audio_rep.astype(np.float16)
    audio_rep = np.log10(10000 * audio_rep.astype(np.float32) + 1)   # <- only change

    first = True
    last_frame = audio_rep.shape[0] - n_frames + 1
    for time_stamp in range(0, last_frame, overlap):
        patch = np.expand_dims(audio_rep[time_stamp: time_stamp + n_frames, :], axis=0)
        if first:
            batch = patch
            first = False
        else:
            batch = np.concatenate((batch, patch), axis=0)
    Recorder.last = (batch, audio_rep)
    return batch, audio_rep


def make_single_patch_batch_data(batch, i):
    def _bd(audio_file, n_frames, overlap):
        return batch[i:i + 1], None
    return _bd


# ----------------------------------------------------------------------------------------------
def list_tracks():
    tracks = []
    for g in GENRES:
        files = sorted(f for f in os.listdir(os.path.join(GTZAN, g)) if not f.startswith("."))
        for f in files[:2]:
            tid = f.rsplit(".", 1)[0]          # e.g. "jazz.00000"
            tracks.append((tid, os.path.join(GTZAN, g, f)))
    return tracks


def run_extractor(path):
    return ext.extractor(path, model=MODEL, input_length=INPUT_LENGTH, input_overlap=False,
                         extract_features=True)


def verify_restore(batch0, taggram0, penult0):
    """Independent check that the checkpoint restores (no try/except) and that the extractor
    results equal a network with the restored weights."""
    ckpt = os.path.join(os.path.dirname(ext.__file__), MODEL) + "/"
    tf.compat.v1.reset_default_graph()
    n_frames = batch0.shape[1]
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        out = models.define_model(x, is_training, MODEL, len(config.MSD_LABELS))
        y = tf.nn.sigmoid(out[0])
    graph_vars = {v.op.name: tuple(v.shape.as_list()) for v in tf.compat.v1.global_variables()}
    # (tf.train.list_variables(dir) would follow the stale 'checkpoint' file, which points to
    #  /home/jpons/...; read the prefix "<dir>/MSD_musicnn/" directly, as saver.restore does)
    ckpt_vars = tf.compat.v1.train.NewCheckpointReader(ckpt).get_variable_to_shape_map()
    missing = [k for k in graph_vars if k not in ckpt_vars]
    shape_mismatch = [k for k in graph_vars if k in ckpt_vars and tuple(ckpt_vars[k]) != graph_vars[k]]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, ckpt)        # raises if anything is wrong
        t, p = sess.run([y, out[8]], feed_dict={x: batch0[:1], is_training: False})
    return dict(n_graph_vars=len(graph_vars), n_ckpt_vars=len(ckpt_vars),
                missing_in_ckpt=missing, shape_mismatch=shape_mismatch,
                max_abs_diff_taggram=float(np.max(np.abs(t - taggram0[:1]))),
                max_abs_diff_penultimate=float(np.max(np.abs(p - penult0[:1]))))


def main():
    tracks = list_tracks()
    assert len(tracks) == 20, tracks
    print("musicnn from", ext.__file__, flush=True)
    out = {}
    meta = {"tracks": {}, "tf_version": tf.__version__, "musicnn_file": ext.__file__}
    labels = None
    restore_check = None

    for ti, (tid, path) in enumerate(tracks):
        meta["tracks"][tid] = {"path": path}
        for variant, bd in (("a", batch_data_published), ("b", batch_data_f32)):
            # --- full, unmodified extractor run (BATCH_SIZE=1 -> one sess.run per patch) ---
            ext.batch_data = bd
            Recorder.last = None
            t0 = time.time()
            taggram, labels, feats = run_extractor(path)
            t_full = time.time() - t0
            batch, spec = Recorder.last
            batch32 = batch.astype(np.float32)
            n = batch.shape[0]
            T = batch.shape[1]
            key = f"{tid}/{variant}"
            out[f"{key}/batch"] = batch32
            out[f"{key}/spectrogram"] = np.asarray(spec, dtype=np.float32)
            out[f"{key}/taggram"] = taggram.astype(np.float32)
            for name in ("mean_pool", "max_pool"):
                out[f"{key}/{name}"] = feats[name]
            for name in ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "penultimate"):
                out[f"{key}/{name}_as_returned"] = feats[name]
            for name in ("timbral", "temporal"):
                out[f"{key}/{name}"] = feats[name].reshape(n, T, -1)

            # --- per-patch runs of the unmodified extractor (correct cnn1..3) ---
            t0 = time.time()
            pp = {k: [] for k in ("taggram", "timbral", "temporal", "cnn1", "cnn2", "cnn3",
                                  "mean_pool", "max_pool", "penultimate")}
            for i in range(n):
                ext.batch_data = make_single_patch_batch_data(batch, i)
                tg_i, _, f_i = run_extractor(path)
                pp["taggram"].append(tg_i)
                for k in pp:
                    if k != "taggram":
                        v = f_i[k]
                        pp[k].append(v if k in ("mean_pool", "max_pool", "penultimate") else v[None])
            t_pp = time.time() - t0
            pp = {k: np.concatenate(v, axis=0) for k, v in pp.items()}
            for name in ("cnn1", "cnn2", "cnn3", "penultimate"):
                out[f"{key}/{name}"] = pp[name]      # correct per-patch values
            # consistency between the batched (published) run and the per-patch runs
            cons = {}
            for k in ("taggram", "timbral", "temporal", "mean_pool", "max_pool"):
                ref = out[f"{key}/{k}"]
                with np.errstate(invalid="ignore"):
                    d = np.abs(ref.astype(np.float64) - pp[k].astype(np.float64))
                both_nan = np.isnan(ref) & np.isnan(pp[k])
                cons[k] = float(np.nanmax(np.where(both_nan, 0.0, d))) if d.size else 0.0
                cons[k + "_nan_mismatch"] = int((np.isnan(ref) != np.isnan(pp[k])).sum())
            for name in ("cnn1", "cnn2", "cnn3", "penultimate"):
                # patch 0 of the returned array must match; patches >0 are the buggy copies
                r = feats[name].reshape(n, -1)
                q = pp[name].reshape(n, -1)
                with np.errstate(invalid="ignore"):
                    cons[f"{name}_patch0"] = float(np.nanmax(np.abs(r[0] - q[0])))
                    cons[f"{name}_as_returned_vs_correct_maxabs"] = float(np.nanmax(np.abs(r - q)))
                cons[f"{name}_as_returned_patches_gt0_equal_patch0"] = bool(
                    np.array_equal(r[1:], np.broadcast_to(r[0], r[1:].shape)))

            info = {
                "n_patches": int(n), "n_frames_spec": int(spec.shape[0]),
                "time_full_extractor_s": round(t_full, 3),
                "time_per_patch_reruns_s": round(t_pp, 3),
                "n_inf_bins_spectrogram": int(np.isinf(spec).sum()),
                "n_inf_bins_in_batch": int(np.isinf(batch32).sum()),
                "n_frames_with_inf_spectrogram": int(np.isinf(spec).any(axis=1).sum()),
                "n_patches_with_inf": int(np.isinf(batch32).any(axis=(1, 2)).sum()),
                "n_nan_taggram_values": int(np.isnan(taggram).sum()),
                "n_patches_nan_taggram": int(np.isnan(taggram).any(axis=1).sum()),
                "max_spec": float(np.max(spec[np.isfinite(spec)])),
                "consistency_batched_vs_perpatch_maxabs": cons,
            }
            mt = np.nanmean(taggram, axis=0) if not np.all(np.isnan(taggram)) else np.full(50, np.nan)
            order = np.argsort(-np.nan_to_num(mt, nan=-1))[:5]
            info["top5"] = [(labels[j], float(mt[j])) for j in order]
            meta["tracks"][tid][variant] = info
            print(f"[{ti+1:2d}/20] {tid} {variant}: n={n} full={t_full:.2f}s perpatch={t_pp:.2f}s "
                  f"inf_bins={info['n_inf_bins_spectrogram']} (in batch {info['n_inf_bins_in_batch']}, "
                  f"patches {info['n_patches_with_inf']}) nan_tag_patches={info['n_patches_nan_taggram']} "
                  f"top3={[l for l, _ in info['top5'][:3]]}", flush=True)

            if restore_check is None and variant == "b":
                ext.batch_data = ORIG_BATCH_DATA
                restore_check = verify_restore(batch32, out[f"{key}/taggram"], out[f"{key}/penultimate"])
                restore_check["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "<unset: default on>")
                print("restore check:", restore_check, flush=True)
    ext.batch_data = ORIG_BATCH_DATA

    meta["restore_check"] = restore_check
    out["MSD_LABELS"] = np.array(labels)
    out["track_ids"] = np.array([t for t, _ in tracks])
    out["track_paths"] = np.array([p for _, p in tracks])
    out["meta_json"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(OUT_DIR, "outputs.npz"), **out)
    with open(os.path.join(OUT_DIR, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("saved", os.path.join(OUT_DIR, "outputs.npz"), len(out), "arrays", flush=True)


FIXTURE_TRACKS = ("blues.00000", "classical.00001", "country.00000", "hiphop.00001",
                  "jazz.00000", "metal.00000")


def write_fixture(target):
    """The test fixture from ``OUT_DIR/outputs.npz`` (no TensorFlow needed)."""
    data = np.load(os.path.join(OUT_DIR, "outputs.npz"), allow_pickle=False)
    out = {"track_ids": np.array(FIXTURE_TRACKS)}
    for t in FIXTURE_TRACKS:
        out[f"{t}/taggram"] = data[f"{t}/b/taggram"].astype(np.float32)
        out[f"{t}/penultimate"] = data[f"{t}/b/penultimate"].astype(np.float32)
        out[f"{t}/published_taggram"] = data[f"{t}/a/taggram"].astype(np.float32)
    np.savez_compressed(target, **out)
    print("wrote", target)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fixture":
        write_fixture(sys.argv[2])
    else:
        main()
