"""Training matching networks with the rank loss, and the scorers that feed them.

The loss is the paper's −log σ(s⁺ − s⁻) over (positive, negative) outfit pairs, written as
softplus(−(s⁺ − s⁻)) for numerical safety. A batch holds a few positives with all of their
negatives (30 pairs with six negatives each): every outfit in it is scored once.

A *scorer* is a torch module mapping (M, 3) item-index triples to (M,) scores; it owns the item
data (cached features, or images for nets that train through the CNN), so one loop trains every
kind of net:

* ``FeatureScorer``: B or C on cached features (stage one, ``direct``).
* ``ProjectedScorer``: B or C for stage two ``partial``, starting from a trained net. fc1 applied
  to concat(a, b) is W_a·a + W_b·b, so W·a is computed once per item; the change of W is learnt
  as V·Qᵀ, with Q an orthonormal basis of the training items' features (or the identity when there
  are more items than dimensions), so training is much cheaper; ``to_net()`` folds it back into a
  plain net, which scores any item (one outside the basis through its projection). With plain SGD
  and no weight decay this is the same training as updating W directly (those updates lie in the
  span anyway); with Adam or weight decay it is not: the steps depend on the basis, so the basis is
  built from the training items only, and items the training never sees cannot shape it.
* ``ImageScorer``: A, or B/C with the backbone (``whole``), on preprocessed crops.

torch is imported at module top: the service and the command line reach this module only
lazily, when they train.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylist.learn.data import RankTask
from stylist.learn.metrics import average, list_metrics
from stylist.tasks import Cancel, Progress, is_cancelled


@dataclass
class TrainConfig:
    """Optimiser and schedule. Defaults: the paper's SGD, with lr tuned for our features."""

    epochs: int = 20
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    pairs_per_batch: int = 30
    optimizer: str = "sgd"  # "sgd" | "adam"
    evals_per_epoch: int = 1  # validation passes per epoch (best checkpoint kept)
    dropout: float = 0.0  # on the inputs of the matching layers (feature scorers only)
    feature_noise: float = 0.0  # Gaussian noise added to normalised features while training
    seed: int = 0
    trunk_lr_scale: float = 0.01  # CNN layers learn at this fraction of lr (A, whole)
    # Restore the checkpoint with the best validation mean NDCG. Off when the validation set is
    # too small to choose by (a new person's few verdicts): the last weights are kept and
    # validated once, for the caller's keep-or-drop decision.
    keep_best: bool = True


@dataclass
class FitResult:
    best_val: float | None  # validation mean NDCG of the kept checkpoint (None: no validation)
    initial_val: float | None  # before training
    history: list[dict[str, float]]  # per validation pass: epoch, step, loss, val
    epochs_run: int
    steps: int
    cancelled: bool = False


def rank_loss(s_pos: Any, s_neg: Any, weights: Any = None) -> Any:
    """−log σ(s⁺ − s⁻), mean over pairs. s_pos (G,), s_neg (G, K); weights (K,): how much each
    column of negatives counts (None: 1 each)."""
    losses = F.softplus(-(s_pos[:, None] - s_neg))
    return (losses if weights is None else losses * weights).mean()


def score_lists(scorer: Any, lists: Sequence[tuple[np.ndarray, np.ndarray]], batch: int = 4096):
    """Scores of every list's outfits with the scorer in eval mode: list of (M,) arrays."""
    was_training = scorer.training
    scorer.eval()
    dev = device_of(scorer)
    out = []
    with torch.no_grad():
        for triples, _ in lists:
            t = torch.as_tensor(np.asarray(triples), dtype=torch.long, device=dev)
            parts = [scorer(t[i : i + batch]) for i in range(0, t.shape[0], batch)]
            out.append(torch.cat(parts).double().cpu().numpy() if parts else np.zeros(0))
    scorer.train(was_training)
    return out


def device_of(module: Any) -> Any:
    """The device a module's parameters (or buffers) live on."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def evaluate_lists(
    scorer: Any, lists: Sequence[tuple[np.ndarray, np.ndarray]], seed: int = 0
) -> Any:
    """The paper's metrics averaged over the lists (RankingMetrics), ties broken by ``seed``."""
    scores = score_lists(scorer, lists)
    rng = np.random.default_rng(seed)
    return average([list_metrics(s, lab, rng) for s, (_, lab) in zip(scores, lists, strict=True)])


def _make_optimizer(scorer: Any, cfg: TrainConfig) -> Any:
    trunk = [p for n, p in scorer.named_parameters() if p.requires_grad and ".trunk." in f".{n}"]
    head = [p for n, p in scorer.named_parameters() if p.requires_grad and ".trunk." not in f".{n}"]
    groups = [{"params": head, "lr": cfg.lr}]
    if trunk:
        groups.append({"params": trunk, "lr": cfg.lr * cfg.trunk_lr_scale})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
        )
    if cfg.optimizer == "adam":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    raise ValueError(f"unknown optimiser {cfg.optimizer!r} (use sgd or adam)")


def fit(
    scorer: Any,
    task: RankTask,
    cfg: TrainConfig,
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> FitResult:
    """Train ``scorer`` in place with the rank loss; keep the best validation checkpoint.

    Validation mean NDCG is measured before training and ``evals_per_epoch`` times per epoch;
    the scorer ends holding the best weights seen (the untrained ones if nothing beat them).
    On cancel the loop stops at the next batch and still restores the best checkpoint.
    """
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    positives = np.asarray(task.positives, dtype=np.int64).reshape(-1, 3)
    n_pos = positives.shape[0]
    if n_pos == 0:
        raise ValueError("no positive outfits to train on")
    optimizer = _make_optimizer(scorer, cfg)
    dev = device_of(scorer)

    def validate() -> float | None:
        if not task.val_lists:
            return None
        return evaluate_lists(scorer, task.val_lists, seed=cfg.seed).mean_ndcg

    initial = validate()
    best_val = initial
    best_state = copy.deepcopy(scorer.state_dict()) if task.val_lists else None
    history: list[dict[str, float]] = []
    steps = 0
    cancelled = False
    epochs_run = 0
    total = cfg.epochs
    for epoch in range(cfg.epochs):
        negatives = np.asarray(task.negatives(rng), dtype=np.int64)  # (P, K, 3)
        k = negatives.shape[1]
        weights = None
        if task.negative_weights is not None:
            weights = torch.as_tensor(task.negative_weights(k), dtype=torch.float32, device=dev)
        per_batch = max(1, cfg.pairs_per_batch // max(k, 1))
        order = rng.permutation(n_pos)
        n_batches = math.ceil(n_pos / per_batch)
        checkpoints = {
            round(n_batches * (i + 1) / cfg.evals_per_epoch) - 1 for i in range(cfg.evals_per_epoch)
        }
        losses: list[float] = []
        scorer.train()
        for b in range(n_batches):
            if is_cancelled(cancel):
                cancelled = True
                break
            chunk = order[b * per_batch : (b + 1) * per_batch]
            g = chunk.size
            outfits = np.concatenate([positives[chunk], negatives[chunk].reshape(-1, 3)])
            scores = scorer(torch.as_tensor(outfits, dtype=torch.long, device=dev))  # (g + g·K,)
            loss = rank_loss(scores[:g], scores[g:].view(g, k), weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            losses.append(float(loss.detach()))
            if b in checkpoints:
                val = validate()
                history.append(
                    {
                        "epoch": epoch + (b + 1) / n_batches,
                        "step": steps,
                        "loss": float(np.mean(losses[-max(1, n_batches // 2) :])),
                        "val_mean_ndcg": float("nan") if val is None else val,
                    }
                )
                # On a tie the later, longer-trained checkpoint wins: a small validation set
                # (a new person's few verdicts) is often ranked perfectly from the start.
                if val is not None and cfg.keep_best and (best_val is None or val >= best_val):
                    best_val = val
                    best_state = copy.deepcopy(scorer.state_dict())
        if cancelled:
            break
        epochs_run = epoch + 1
        if progress is not None:
            label = f"epoch {epoch + 1}/{total}"
            if history and not math.isnan(history[-1]["val_mean_ndcg"]):
                label += f", validation mean NDCG {history[-1]['val_mean_ndcg']:.3f}"
            progress(epoch + 1, total, label)
    if not cfg.keep_best:
        scorer.eval()
        best_val = validate()
    elif best_state is not None:
        scorer.load_state_dict(best_state)
    scorer.eval()
    return FitResult(
        best_val=best_val,
        initial_val=initial,
        history=history,
        epochs_run=epochs_run,
        steps=steps,
        cancelled=cancelled,
    )


# ----------------------------------------------------------------------------------- scorers


def normalisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per dimension of (..., N, D) features, std floored so no dimension explodes."""
    flat = np.asarray(features, dtype=np.float64).reshape(-1, features.shape[-1])
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    floor = 0.05 * float(np.median(std[std > 0])) if np.any(std > 0) else 1.0
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


class FeatureScorer(nn.Module):
    """B or C over cached, already normalised features (V, N, D): a training pass picks a random
    view for every item of every outfit; evaluation always uses view 0 (the crop as it is)."""

    def __init__(self, net: nn.Module, x: np.ndarray, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("x", torch.from_numpy(np.ascontiguousarray(x)), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None
        self.noise = cfg.feature_noise

    def forward(self, triples: torch.Tensor) -> torch.Tensor:  # (M, 3) -> (M,)
        views = self.x.shape[0]
        feats = []
        for slot in range(3):
            idx = triples[:, slot]
            if self.training and views > 1:
                v = torch.randint(views, idx.shape, device=idx.device)
                f = self.x[v, idx]  # (M, D)
            else:
                f = self.x[0, idx]
            if self.training:
                if self.noise > 0:
                    f = f + self.noise * torch.randn_like(f)
                if self.dropout is not None:
                    f = self.dropout(f)
            feats.append(f)
        return self.net(*feats)


def feature_scorer(
    net: nn.Module, features: np.ndarray, cfg: TrainConfig | None = None
) -> FeatureScorer:
    """A scorer over cached, already normalised features (V, N, D) or (N, D)."""
    x = np.asarray(features, dtype=np.float32)
    return FeatureScorer(net, x[None] if x.ndim == 2 else x, cfg or TrainConfig())


def slot_bases(x: np.ndarray, slot_items: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per slot, an orthonormal basis of its items' (N, D) features: (D, r), r <= min(items, D);
    the identity when there are at least as many items as dimensions."""
    d = x.shape[1]
    bases: list[np.ndarray] = []
    for items in slot_items:
        items = np.unique(np.asarray(items, dtype=np.int64))
        if items.size >= d:
            bases.append(np.eye(d, dtype=np.float32))
        else:
            # torch's QR runs on torch's threads (numpy's BLAS may spin up threads of its own)
            q, _ = torch.linalg.qr(torch.from_numpy(x[items].astype(np.float64).T))  # (D, r)
            bases.append(q.numpy().astype(np.float32))
    return bases


class ProjectedScorer(nn.Module):
    """Stage two ``partial`` on a trained B or C net: fc1's change learnt in each slot's basis
    (see the module docstring); ``to_net()`` folds it back into a plain net."""

    def __init__(self, net: nn.Module, x: np.ndarray, bases: Sequence[np.ndarray]) -> None:
        super().__init__()
        d = x.shape[1]
        if net.kind == "C":
            sides = {
                name: (
                    (i, net.pairs[name].fc1.weight[:, :d]),
                    (j, net.pairs[name].fc1.weight[:, d:]),
                )
                for name, i, j in net.pair_defs
            }
            heads = {name: net.pairs[name] for name, _, _ in net.pair_defs}
        elif net.kind == "B":
            w = net.matcher.fc1.weight
            sides = {"all": tuple((k, w[:, k * d : (k + 1) * d]) for k in range(3))}
            heads = {"all": net.matcher}
        else:
            raise ValueError(f"stage two partial works on nets B and C, not {net.kind}")
        self.source, self.kind, self.d = net, net.kind, d
        self.names = list(sides)
        self.heads = nn.ModuleDict()
        self.delta = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        self.slots: dict[str, tuple[int, ...]] = {}
        xt = torch.from_numpy(x)
        with torch.no_grad():
            for slot in range(3):
                q = torch.from_numpy(bases[slot])  # (D, r_slot)
                self.register_buffer(f"z{slot}", xt @ q, persistent=False)  # (N, r_slot)
                self.register_buffer(f"q{slot}", q, persistent=False)
            for name, parts in sides.items():
                head = copy.deepcopy(heads[name])
                self.heads[name] = head
                self.bias[name] = nn.Parameter(head.fc1.bias.detach().clone())
                self.slots[name] = tuple(slot for slot, _ in parts)
                for k, (slot, w) in enumerate(parts):
                    # (N, hidden): the frozen part of fc1 for every item, computed once
                    self.register_buffer(f"base_{name}_{k}", xt @ w.detach().T, persistent=False)
                    r = bases[slot].shape[1]
                    self.delta[f"{name}_{k}"] = nn.Parameter(torch.zeros(w.shape[0], r))
                head.fc1.requires_grad_(False)  # fc1 is base + delta here

    def _h1(self, name: str, triples: torch.Tensor) -> torch.Tensor:
        h = self.bias[name]
        for k, slot in enumerate(self.slots[name]):
            idx = triples[:, slot]
            base = getattr(self, f"base_{name}_{k}")[idx]  # (M, hidden)
            z = getattr(self, f"z{slot}")[idx]  # (M, r)
            h = h + base + z @ self.delta[f"{name}_{k}"].T
        return h

    def forward(self, triples: torch.Tensor) -> torch.Tensor:  # (M, 3) -> (M,)
        probs = [
            torch.softmax(self.heads[name].head(self._h1(name, triples)), dim=1)[:, 1]
            for name in self.names
        ]
        return torch.stack(probs, dim=1).sum(dim=1)

    def to_net(self) -> nn.Module:
        """A plain B/C net equal to this scorer: fc1 = W + V·Qᵀ per side."""
        out = copy.deepcopy(self.source)
        d = self.d
        with torch.no_grad():
            for name in self.names:
                target = out.pairs[name] if self.kind == "C" else out.matcher
                trained = self.heads[name]
                target.fc2.load_state_dict(trained.fc2.state_dict())
                target.fc3.load_state_dict(trained.fc3.state_dict())
                target.fc1.bias.copy_(self.bias[name])
                for k, slot in enumerate(self.slots[name]):
                    q = getattr(self, f"q{slot}")
                    cols = slice(k * d, (k + 1) * d)
                    target.fc1.weight[:, cols] += self.delta[f"{name}_{k}"] @ q.T
        return out


def projected_scorer(
    net: nn.Module, features: np.ndarray, slot_items: Sequence[np.ndarray]
) -> ProjectedScorer:
    """Stage-two ``partial`` scorer for a trained B or C net on normalised (N, D) features.

    ``slot_items``: the items the training puts in each slot (its positives, negatives and
    their pools): they span the basis the change of fc1 is learnt in. Validation and test items
    need not be among them (they are scored through their projection, as ``to_net()`` does).
    """
    x = np.asarray(features, dtype=np.float32)
    if net.kind not in ("B", "C"):
        raise ValueError(f"stage two partial works on nets B and C, not {net.kind}")
    return ProjectedScorer(net, x, slot_bases(x, slot_items))


def load_images(files: Sequence[Any], preprocess: Any, size: int | None = None) -> np.ndarray:
    """Crops preprocessed as the backbone's manifest says: (N, 3, S, S) float16 to save memory.

    ``size`` overrides the input side (the CNNs pool globally, so a smaller side trains faster
    on a CPU at some cost in accuracy).
    """
    import dataclasses

    from stylist.vision.preprocess import load_image, preprocess_image

    pre = preprocess if size is None else dataclasses.replace(preprocess, input_size=size)
    out = np.empty((len(files), 3, pre.input_size, pre.input_size), dtype=np.float16)
    for i, f in enumerate(files):
        out[i] = preprocess_image(load_image(f, pre), pre)
    return out


class ImageScorer(nn.Module):
    """Net A on preprocessed crops, or B/C trained ``whole`` through ``trunk`` (see
    ``image_scorer``)."""

    def __init__(
        self,
        net: nn.Module,
        x: torch.Tensor,
        trunk: nn.Module | None,
        mean: np.ndarray | None,
        std: np.ndarray | None,
    ) -> None:
        super().__init__()
        self.net = net
        self.trunk = trunk
        self.register_buffer("x", x, persistent=False)
        if trunk is not None:
            m = torch.as_tensor(mean if mean is not None else 0.0, dtype=torch.float32)
            s = torch.as_tensor(std if std is not None else 1.0, dtype=torch.float32)
            self.register_buffer("mean", m, persistent=False)
            self.register_buffer("std", s, persistent=False)

    def train(self, mode: bool = True) -> ImageScorer:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def _images(self, idx: torch.Tensor) -> torch.Tensor:
        img = self.x[idx].float()  # (M, 3, S, S)
        if self.training:
            flip = torch.rand(idx.shape[0], device=idx.device) < 0.5
            img = torch.where(flip[:, None, None, None], img.flip(-1), img)
        return img

    def forward(self, triples: torch.Tensor) -> torch.Tensor:  # (M, 3) -> (M,)
        if self.trunk is None:
            return self.net(*(self._images(triples[:, k]) for k in range(3)))
        items, inverse = torch.unique(triples, return_inverse=True)  # features once per item
        feats = (self.trunk(self._images(items)) - self.mean) / self.std  # (U, D)
        return self.net(*(feats[inverse[:, k]] for k in range(3)))


def image_scorer(
    net: nn.Module,
    images: np.ndarray,
    *,
    trunk: nn.Module | None = None,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> ImageScorer:
    """A scorer over preprocessed crops (N, 3, S, S).

    Net A takes the images itself (``trunk`` None). For B or C trained ``whole``, ``trunk`` turns
    each crop into features, normalised by (``mean``, ``std``) as the net expects. Batch-norm
    statistics stay frozen (batches of a few dozen crops would only add noise to them); training
    mirrors crops at random, as the authors did.
    """
    return ImageScorer(net, torch.from_numpy(np.ascontiguousarray(images)), trunk, mean, std)
