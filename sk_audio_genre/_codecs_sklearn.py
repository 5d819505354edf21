"""Codecs of the scikit-learn classes a saved model may hold.

``Pipeline`` (nested steps), ``FeatureUnion`` (without weights), ``StandardScaler``,
``LogisticRegression`` and a soft ``VotingClassifier`` whose members are saved classifiers
(with weights it can average by).  Each restores exactly the fitted attributes
scikit-learn's own ``fit`` sets and that prediction reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from ._limits import MAX_ENSEMBLE_MEMBERS
from ._codecs import (
    Codec,
    Node,
    SchemaError,
    array,
    build_with_params,
    class_labels,
    count_array,
    dump_estimator,
    dump_params,
    feature_count,
    load_estimator,
    positive_int,
    saved_labels,
)


def _dump_named(parts: list[tuple[str, Any]], writer: Any, where: str) -> list[dict]:
    """``[{"name", "estimator"}, ...]`` for a Pipeline's steps or a FeatureUnion's parts."""
    return [{"name": name, "estimator": dump_estimator(part, writer, f"{where}.{name}")}
            for name, part in parts]


def _load_named(node: Node, key: str, reader: Any) -> list[tuple[str, Any]]:
    """The ``(name, estimator)`` list of ``node[key]``: names non-empty, unique, free of
    ``__`` (scikit-learn's parameter separator), and at least one part."""
    parts: list[tuple[str, Any]] = []
    for entry in node.children(key):
        name = entry.get("name", str)
        if not name or "__" in name or name in {n for n, _ in parts}:
            raise SchemaError(f"{entry.where}.name {name!r} must be non-empty, unique and "
                              "free of '__'.")
        parts.append((name, load_estimator(entry.child("estimator"), reader)))
    if not parts:
        raise SchemaError(f"{node.where}.{key} must not be empty.")
    return parts


class PipelineCodec(Codec):
    """Steps in order; adjacent steps must agree on how many values pass between them."""

    fitted = False  # a Pipeline is fitted when its steps are; each step checks itself

    def owns(self, estimator: Any) -> bool:
        return type(estimator) is Pipeline

    def dump(self, estimator: Pipeline, writer: Any, where: str) -> dict[str, Any]:
        return {"steps": _dump_named(estimator.steps, writer, where)}

    def load(self, node: Node, reader: Any) -> Pipeline:
        steps = _load_named(node, "steps", reader)
        for (first_name, first), (second_name, second) in zip(steps, steps[1:]):
            out, into = feature_count(first)[1], feature_count(second)[0]
            if out is not None and into is not None and out != into:
                raise SchemaError(
                    f"{node.where}: step {first_name!r} gives {out} values per frame or track "
                    f"but step {second_name!r} expects {into}."
                )
        return Pipeline(steps)

    def sizes(self, estimator: Pipeline) -> tuple[int | None, int | None]:
        return feature_count(estimator.steps[0][1])[0], feature_count(estimator.steps[-1][1])[1]


class FeatureUnionCodec(Codec):
    """Transformers side by side; their outputs are concatenated."""

    fitted = False

    def owns(self, estimator: Any) -> bool:
        return type(estimator) is FeatureUnion and estimator.transformer_weights is None

    def dump(self, estimator: FeatureUnion, writer: Any, where: str) -> dict[str, Any]:
        return {"transformers": _dump_named(estimator.transformer_list, writer, where)}

    def load(self, node: Node, reader: Any) -> FeatureUnion:
        return FeatureUnion(_load_named(node, "transformers", reader))

    def sizes(self, estimator: FeatureUnion) -> tuple[int | None, int | None]:
        outputs = [feature_count(part)[1] for _, part in estimator.transformer_list]
        return None, None if None in outputs else sum(outputs)


class StandardScalerCodec(Codec):
    def owns(self, estimator: Any) -> bool:
        return type(estimator) is StandardScaler

    def dump(self, estimator: StandardScaler, writer: Any, where: str) -> dict[str, Any]:
        arrays = {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                  for key in ("mean_", "var_", "scale_") if getattr(estimator, key) is not None}
        seen = np.asarray(estimator.n_samples_seen_)
        return {
            "params": dump_params(estimator, where),
            "state": {"n_features_in_": int(estimator.n_features_in_),
                      "n_samples_seen_": int(seen) if seen.ndim == 0 else seen.tolist()},
            "arrays": arrays,
        }

    def load(self, node: Node, reader: Any) -> StandardScaler:
        scaler = build_with_params(StandardScaler, node)
        state = node.child("state")
        n = positive_int(state, "n_features_in_")
        scaler.n_features_in_ = n
        seen = state.get("n_samples_seen_", (int, list))
        scaler.n_samples_seen_ = (seen if isinstance(seen, int)
                                  else count_array(state, "n_samples_seen_", np.int64))
        keys = node.child("arrays").data
        scaler.mean_ = array(node, reader, "mean_", ndim=1, length=n) if "mean_" in keys else None
        scaler.var_ = array(node, reader, "var_", ndim=1, length=n) if "var_" in keys else None
        scaler.scale_ = None
        if scaler.with_std:
            scaler.scale_ = array(node, reader, "scale_", ndim=1, length=n)
            if not (scaler.scale_ > 0).all():
                raise SchemaError(f"{node.where}.arrays.scale_ must be positive.")
        if scaler.with_mean and scaler.mean_ is None:
            raise SchemaError(f"{node.where}.arrays has no mean_ but with_mean is true.")
        return scaler

    def sizes(self, estimator: StandardScaler) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, estimator.n_features_in_


class LogisticRegressionCodec(Codec):
    def owns(self, estimator: Any) -> bool:
        return type(estimator) is LogisticRegression

    def dump(self, estimator: LogisticRegression, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": dump_params(estimator, where),
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "n_features_in_": int(estimator.n_features_in_),
                      "n_iter_": np.asarray(estimator.n_iter_).tolist()},
            "arrays": {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                       for key in ("coef_", "intercept_")},
        }

    def load(self, node: Node, reader: Any) -> LogisticRegression:
        model = build_with_params(LogisticRegression, node)
        state = node.child("state")
        classes = class_labels(state)
        n_features = positive_int(state, "n_features_in_")
        rows = 1 if len(classes) == 2 else len(classes)
        coef = array(node, reader, "coef_", ndim=2, length=rows)
        if coef.shape[1] != n_features:
            raise SchemaError(f"{node.where}.arrays.coef_ has {coef.shape[1]} columns, but "
                              f"n_features_in_ is {n_features}.")
        model.coef_ = coef
        model.intercept_ = array(node, reader, "intercept_", ndim=1, length=rows)
        model.classes_ = classes
        model.n_features_in_ = n_features
        model.n_iter_ = count_array(state, "n_iter_", np.int32)
        return model

    def sizes(self, estimator: LogisticRegression) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, None


def _member_count(n_members: int, where: str) -> None:
    """Refuse an ensemble of more members than ``seed_ensemble`` makes (its bound)."""
    if n_members > MAX_ENSEMBLE_MEMBERS:
        raise SchemaError(f"{where} has {n_members} members, more than "
                          f"{MAX_ENSEMBLE_MEMBERS}: the bound of seed_ensemble.")


class VotingClassifierCodec(Codec):
    """A soft-voting ensemble (loaded as :class:`~sk_audio_genre.ensemble.GenreVotingClassifier`).

    ``VotingClassifier`` fits its members on label-encoded targets, so every member's classes
    must be ``0 .. n_classes - 1``."""

    def owns(self, estimator: Any) -> bool:
        return isinstance(estimator, VotingClassifier) and estimator.voting == "soft"

    def dump(self, estimator: VotingClassifier, writer: Any, where: str) -> dict[str, Any]:
        weights = None if estimator.weights is None else [float(w) for w in estimator.weights]
        params = {"voting": "soft", "weights": weights,
                  "flatten_transform": bool(estimator.flatten_transform)}
        try:  # what loading would refuse is refused now, while the folder is unchanged
            _member_count(len(estimator.estimators_), where)
            _voting_weights(Node(params, f"{where}.params"), len(estimator.estimators_))
        except SchemaError as exc:
            raise ValueError(f"{exc} (a saved model could not be loaded with them)") from None
        return {
            "params": params,
            "state": {"classes_": saved_labels(estimator.classes_, where)},
            "members": _dump_named(list(estimator.named_estimators_.items()), writer, where),
        }

    def load(self, node: Node, reader: Any) -> VotingClassifier:
        params = node.child("params")
        if params.get("voting", str) != "soft":
            raise SchemaError(f"{params.where}.voting must be 'soft'.")
        classes = class_labels(node.child("state"))
        _member_count(len(node.get("members", list)), node.where)  # before building any
        weights = _voting_weights(params, len(node.get("members", list)))
        members = _load_named(node, "members", reader)
        for i, (_, member) in enumerate(members):
            if np.asarray(member.classes_).tolist() != list(range(len(classes))):
                raise SchemaError(
                    f"{node.where}.members[{i}]: member classes "
                    f"{np.asarray(member.classes_).tolist()} are not the ensemble's "
                    f"{len(classes)} encoded classes 0..{len(classes) - 1}.")
        from .ensemble import GenreVotingClassifier

        ensemble = GenreVotingClassifier.from_fitted(
            members, classes, weights=weights,
            flatten_transform=params.get("flatten_transform", bool))
        return ensemble

    def sizes(self, estimator: VotingClassifier) -> tuple[int | None, int | None]:
        return feature_count(estimator.estimators_[0])[0], None


def _voting_weights(params: Node, n_members: int) -> list[int | float] | None:
    """Soft-voting weights: null, or one finite, non-negative number per member whose sum is
    a positive, finite, normal float.  ``np.average`` divides by that sum: zero raised
    ZeroDivisionError, ``1e308 + 1e308`` overflowed to NaN probabilities, and a subnormal
    sum would round the averaged probabilities to a few digits."""
    weights = params.get("weights", (list, type(None)))
    if weights is None:
        return None
    where = f"{params.where}.weights"
    if len(weights) != n_members or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
        raise SchemaError(f"{where} must be null or one number per member ({n_members}).")
    largest = np.finfo(np.float64).max
    if not all(0 <= w <= largest for w in weights):
        raise SchemaError(f"{where} must be finite and non-negative, got {weights}.")
    with np.errstate(over="ignore"):
        total = float(np.asarray(weights, dtype=np.float64).sum())
    if not np.finfo(np.float64).smallest_normal <= total <= largest:
        raise SchemaError(f"{where} sum to {total!r}; the members' probabilities are averaged "
                          "with these weights, which needs a positive, finite sum (and one "
                          "no smaller than 2.2e-308).")
    return weights


SKLEARN_CODECS: dict[str, Codec] = {
    "Pipeline": PipelineCodec(),
    "FeatureUnion": FeatureUnionCodec(),
    "StandardScaler": StandardScalerCodec(),
    "LogisticRegression": LogisticRegressionCodec(),
    "VotingClassifier": VotingClassifierCodec(),  # loads as GenreVotingClassifier
}
