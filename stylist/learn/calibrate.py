"""Calibration of a net C's pair probabilities (Platt scaling), fitted on validation lists.

The rank loss fixes only the order of outfits, not how sure a pair network sounds: trained on
thousands of outfits its logits grow until most pairs read 0 % or 100 %, and a card's pair bars
say nothing. Dividing each pair network's logit difference by a temperature T (P = σ(d / T))
changes no ranking within a pair. The rank loss does not fix where a pair's logits sit either
(only differences between outfits count), so a shift b comes first: P = σ((d − b) / T). T and b
are chosen so that, on validation lists the net never trained on, P(match) predicts whether a
pair comes from a liked outfit or from one of its negatives. Liked and negative pairs are
weighed equally (a list holds six negatives per liked outfit), so 50 % means "as likely from a
liked outfit as not". Without the shift, a net whose logits sit far below zero could only be
calibrated by a huge T that flattens every probability to one value.

The shift is folded into the pair network's last layer (``fold_shifts``), so the files keep their
format; the temperatures go into the net's JSON (``"calibration"``) and the numpy ranker applies
them. Both keep every ranking as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

T_RANGE = (0.05, 50.0)


def pair_logit_diffs(net: Any, x: np.ndarray, triples: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair network of a torch net C: (M,) logit of match minus logit of no match.

    ``x``: (N, D) inputs as the net takes them (normalised); ``triples``: (M, 3) item rows.
    """
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    idx = torch.from_numpy(np.asarray(triples, dtype=np.int64))
    out = {}
    with torch.no_grad():
        for name, i, j in net.pair_defs:
            pair = torch.cat((xt[idx[:, i]], xt[idx[:, j]]), dim=1)  # (M, 2D)
            logits = net.pairs[name](pair)  # (M, 2)
            out[name] = (logits[:, 1] - logits[:, 0]).numpy().astype(np.float64)
    return out


def _balanced_log_loss(d: np.ndarray, y: np.ndarray, t: float) -> float:
    z = d / t
    # -log σ(z) for positives, -log σ(-z) for negatives, computed without overflow
    loss = np.logaddexp(0.0, np.where(y == 1, -z, z))
    pos, neg = y == 1, y == 0
    return 0.5 * float(loss[pos].mean()) + 0.5 * float(loss[neg].mean())


def fit_platt(diffs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(T, b) minimising the class-balanced log loss of σ((d − b) / T); b over the quantiles of
    d, T over ``T_RANGE`` (a grid, then refined around the best)."""
    d = np.asarray(diffs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if not (np.any(y == 1) and np.any(y == 0)):
        return 1.0, 0.0
    shifts = np.unique(np.quantile(d, np.linspace(0.02, 0.98, 49)))
    best = (np.inf, 1.0, 0.0)
    for b in shifts:
        t = fit_temperature(d - b, y)
        loss = _balanced_log_loss(d - b, y, t)
        if loss < best[0]:
            best = (loss, t, float(b))
    return best[1], best[2]


def fold_shifts(arrays: dict[str, np.ndarray], shifts: dict[str, float]) -> dict[str, np.ndarray]:
    """The arrays with each pair's logit difference lowered by its shift (fc3's match bias)."""
    out = dict(arrays)
    for name, b in shifts.items():
        bias = np.array(out[f"{name}.fc3.bias"], dtype=np.float32)  # (2,) no match, match
        bias[1] -= np.float32(b)
        out[f"{name}.fc3.bias"] = bias
    return out


def fit_temperature(diffs: np.ndarray, labels: np.ndarray) -> float:
    """The T in ``T_RANGE`` minimising the class-balanced log loss of σ(d / T) on the labels
    (1: the pair of a liked outfit, 0: of a negative). A grid over log T, then refined."""
    d = np.asarray(diffs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if not (np.any(y == 1) and np.any(y == 0)):
        return 1.0
    grid = np.exp(np.linspace(np.log(T_RANGE[0]), np.log(T_RANGE[1]), 121))
    losses = [_balanced_log_loss(d, y, t) for t in grid]
    k = int(np.argmin(losses))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    fine = np.exp(np.linspace(np.log(lo), np.log(hi), 41))
    return float(min(fine, key=lambda t: _balanced_log_loss(d, y, t)))


def calibrate(
    net: Any, x: np.ndarray, lists: Sequence[tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """The ``calibration`` entry of a net C's JSON, fitted on validation ``lists``, with the
    shifts to fold into the net (``shift``, see ``fold_shifts``).

    Each outfit of a list gives one example per pair network: its pair, labelled as the outfit
    is. Also reports the balanced log loss before and after, and the spread of the calibrated
    probabilities, so the JSON shows what the calibration did.
    """
    triples = np.concatenate([t for t, _ in lists])
    labels = np.concatenate([lab for _, lab in lists]).astype(np.int64)
    temps, shifts, report = {}, {}, {}
    for name, d in pair_logit_diffs(net, x, triples).items():
        t, b = fit_platt(d, labels)
        p = 1.0 / (1.0 + np.exp(-(d - b) / t))
        temps[name] = round(t, 4)
        shifts[name] = b
        report[name] = {
            "log_loss_before": round(_balanced_log_loss(d, labels, 1.0), 4),
            "log_loss_after": round(_balanced_log_loss(d - b, labels, t), 4),
            "shift_folded_into_fc3": round(b, 4),
            "p_liked_median": round(float(np.median(p[labels == 1])), 3),
            "p_negative_median": round(float(np.median(p[labels == 0])), 3),
            "p_10_90": [round(float(q), 3) for q in np.quantile(p, [0.1, 0.9])],
        }
    return {
        "method": "temperature",
        "temperature": temps,
        "shift": shifts,
        "fitted_on": f"validation lists ({int((labels == 1).sum())} liked outfits, "
        f"{int((labels == 0).sum())} negatives), liked and negative pairs weighed equally",
        "report": report,
    }
