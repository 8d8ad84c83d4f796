"""From script-independent matching features to P(step performed), and adaptation to one script.

`AdherenceCalibrator` is a logistic regression over `matching.FEATURES` (standardised; balanced
classes, since steps range from rare to near-universal). It was chosen over gradient boosting and random
forests by leave-one-business-out accuracy over every labelled business (see README, "Script-gap
analysis"): the boosted trees fit the training businesses far better and unseen ones no better. It is
trained on many businesses' scripts and shipped as data (`nlp/data/gaps_calibration.json`: feature
weights and the training table, no words or step names), so it carries over to scripts it never saw;
scoring 1,000 calls is one matrix product.

`adapt_to_script` adapts it to the user's own script from a few hand-labelled calls (`callbridge gaps
--labels`): the calibrator is refitted with the labelled calls' rows added to its training table (weighted
`LABEL_WEIGHT` each), then every step gets its own shift of the log-odds (`StepAdapter`), shrunk towards a
shift shared by all steps, itself shrunk towards zero, so two labelled calls move a step a little and
thirty move it a lot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputFormatError
from .matching import FEATURES

CALIBRATION_PATH = Path(__file__).resolve().parents[1] / "data" / "gaps_calibration.json"
# A hand-labelled (call, step) row of the user's script counts this many times a training row of another
# business when the calibrator is refitted (chosen on the --labels learning curve, README).
LABEL_WEIGHT = 10.0


class AdherenceCalibrator:
    """Logistic regression from `FEATURES` rows to P(step performed); scikit-learn style.

    `fit(X, y)` learns a standardiser and the weights with scikit-learn; `decision_function` and
    `predict_proba` are plain numpy. X: (rows, len(FEATURES)); y: 0/1 per row. Features are clipped
    to the range seen in training (0.5th-99.5th percentile): a script or call unlike all training ones
    (five steps, two-hour calls) must not be scored by extrapolating a linear model.
    """

    def __init__(self, C: float = 0.1, threshold: float = 0.5):
        self.C = C
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "AdherenceCalibrator":
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        self.lo_, self.hi_ = np.percentile(X, 0.5, axis=0), np.percentile(X, 99.5, axis=0)
        X = np.clip(X, self.lo_, self.hi_)
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 1e-9, sd, 1.0)
        lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000)
        lr.fit((X - self.mean_) / self.scale_, np.asarray(y), sample_weight=sample_weight)
        self.coef_ = lr.coef_[0]
        self.intercept_ = float(lr.intercept_[0])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of "performed", one per row."""
        X = np.clip(np.asarray(X, dtype=np.float64), self.lo_, self.hi_)
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "C": self.C, "threshold": self.threshold,
                "lo": self.lo_.tolist(), "hi": self.hi_.tolist(),
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdherenceCalibrator":
        if list(d.get("features", [])) != list(FEATURES):
            raise InputFormatError("the script-gap calibration was made for other features",
                                   hint="retrain it: python scripts/evaluate.py gaps DIR... --train")
        m = cls(C=d["C"], threshold=d["threshold"])
        m.lo_, m.hi_ = np.asarray(d["lo"]), np.asarray(d["hi"])
        m.mean_, m.scale_ = np.asarray(d["mean"]), np.asarray(d["scale"])
        m.coef_, m.intercept_ = np.asarray(d["coef"]), float(d["intercept"])
        return m


class StepAdapter:
    """Per-step shifts of the shipped log-odds, learned from some calls of one script labelled by hand.

    Model: P(step k performed in call c) = sigmoid(G[c, k] + b + d_k). The shared shift b has a Gaussian
    prior around 0 (weight `prior_shared`), each step's d_k one around 0 (weight `prior_step`), so a step
    with two labelled calls moves little and one with thirty moves to where its labels put it; a step
    whose labels are all one class still moves (towards that class). Classes are weighted per step so that
    a rare step is not simply pushed to "never" (the accuracy that matters is balanced accuracy).
    """

    def __init__(self, prior_shared: float = 2.0, prior_step: float = 1.0):
        self.prior_shared = prior_shared
        self.prior_step = prior_step

    @staticmethod
    def _newton(g: np.ndarray, y: np.ndarray, w: np.ndarray, prior: float, x0: float = 0.0) -> float:
        b = 0.0
        for _ in range(25):
            p = 1.0 / (1.0 + np.exp(-(g + x0 + b)))
            grad = float((w * (p - y)).sum()) + prior * b
            hess = float((w * p * (1 - p)).sum()) + prior
            step = grad / max(hess, 1e-9)
            b -= float(np.clip(step, -2.0, 2.0))
            if abs(step) < 1e-6:
                break
        return b

    @staticmethod
    def _weights(Y: np.ndarray) -> np.ndarray:
        pos = Y.sum(axis=0, keepdims=True)
        n = Y.shape[0]
        # balanced per step, with one pseudo-call of each class so a one-class step keeps weight 1
        wp = (n + 2) / (2.0 * (pos + 1))
        wn = (n + 2) / (2.0 * (n - pos + 1))
        return np.where(Y == 1, wp, wn)

    def fit(self, G: np.ndarray, Y: np.ndarray) -> "StepAdapter":
        """G: (calls, steps) shipped log-odds of the labelled calls; Y: (calls, steps) 0/1 hand labels."""
        G, Y = np.asarray(G, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        if G.shape != Y.shape or G.ndim != 2:
            raise ValueError(f"G and Y must be (calls, steps) of one shape, got {G.shape} and {Y.shape}")
        W = self._weights(Y)
        self.shared_ = self._newton(G.ravel(), Y.ravel(), W.ravel(), self.prior_shared)
        self.shift_ = np.asarray([self._newton(G[:, k], Y[:, k], W[:, k], self.prior_step, self.shared_)
                                  for k in range(G.shape[1])])
        return self

    def decision_function(self, G: np.ndarray) -> np.ndarray:
        return np.asarray(G, dtype=np.float64) + self.shared_ + self.shift_[None, :]

    def predict_proba(self, G: np.ndarray) -> np.ndarray:
        """(calls, steps) adapted probabilities for the shipped log-odds G of any calls of the script."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(G)))


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    """The calibration file as a dict: `model` (AdherenceCalibrator.to_dict), `trained_on` and `train`
    (the training table: X, y, groups = script fingerprints, weights)."""
    p = Path(path) if path else CALIBRATION_PATH
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputFormatError(f"cannot read the script-gap calibration: {e}", path=str(p),
                               hint="reinstall callbridge or retrain it with scripts/evaluate.py gaps --train") from None


def calibrator_from_file(path: str | Path | None = None, exclude_groups: Sequence[str] = ()) -> AdherenceCalibrator:
    """The shipped calibrator; refitted without `exclude_groups` (script fingerprints) when its training
    table holds calls of those scripts, so a business is never scored by a model that saw it."""
    d = load_calibration(path)
    train = d.get("train") or {}
    groups = train.get("groups") or []
    if exclude_groups and set(exclude_groups) & set(groups):
        keep = np.asarray([g not in set(exclude_groups) for g in groups])
        X = np.asarray(train["X"], dtype=np.float64)[keep]
        y = np.asarray(train["y"])[keep]
        w = np.asarray(train.get("weights") or [1.0] * len(groups), dtype=np.float64)[keep]
        return AdherenceCalibrator(C=d["model"]["C"], threshold=d["model"]["threshold"]).fit(X, y, sample_weight=w)
    return AdherenceCalibrator.from_dict(d["model"])


def adapt_to_script(calibrator: AdherenceCalibrator, X: np.ndarray, Y: np.ndarray,
                    train: dict[str, Any] | None = None) -> tuple[AdherenceCalibrator, StepAdapter]:
    """Adapt to one script from its hand-labelled calls.

    X: (calls, steps, len(FEATURES)) features of the labelled calls; Y: (calls, steps) 0/1 labels;
    `train`: the training table the calibrator came from ({"X", "y", "weights"}; default: the shipped
    one). Returns the refitted calibrator and the per-step shifts on top of it; score any call of the
    script with `adapter.predict_proba(calibrator.decision_function(rows).reshape(calls, steps))`.
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y)
    if X.ndim != 3 or X.shape[:2] != Y.shape:
        raise ValueError(f"X must be (calls, steps, features) and Y (calls, steps), got {X.shape} and {Y.shape}")
    table = train if train is not None else (load_calibration().get("train") or {})
    cal = calibrator
    if table.get("X") is not None and len(table["X"]):
        TX = np.asarray(table["X"], dtype=np.float64)
        Ty = np.asarray(table["y"])
        w = table.get("weights")
        Tw = np.ones(len(Ty)) if w is None else np.asarray(w, dtype=np.float64)
        rows = X.reshape(-1, X.shape[-1])
        cal = AdherenceCalibrator(C=calibrator.C, threshold=calibrator.threshold).fit(
            np.vstack([TX, rows]), np.concatenate([Ty, Y.reshape(-1)]),
            sample_weight=np.concatenate([Tw, np.full(len(rows), LABEL_WEIGHT)]))
    G = cal.decision_function(X.reshape(-1, X.shape[-1])).reshape(Y.shape)
    return cal, StepAdapter().fit(G, Y)
