"""Stage one by distillation from an outfit memory: what stylists put together, remembered.

On the stylists' outfits, pair networks trained with the rank loss on the compact backbone's
features learn the training products rather than what goes together: on outfits whose products
they never saw they rank no better than a net on colour statistics (the model card). A
non-parametric estimate generalises better. Every liked training outfit is remembered as its
items' features (whitened principal components, unit length); a pair of new items (a, b) scores

    s(a, b) = log Σ_o exp(β (cos(a, a_o) + cos(b, b_o)))
              − log Σ_o exp(β cos(a, a_o)) − log Σ_o exp(β cos(b, b_o))

over the remembered outfits o: a kernel estimate of log p(a, b) / (p(a) p(b)), i.e. how much more
often things like a were worn with things like b than each was worn at all (pointwise mutual
information). A popular kind of item gains nothing by being popular.

The memory is the teacher. Each pair network of a FashionNet net C (the paper's form, on the
same whitened components, folded into fc1 afterwards) learns to reproduce its pair's teacher
score on random pairs of training items and on the liked pairs, each item seen as its photo or
an augmented version of it: the shipped net is an ordinary net C (exact top-k, explanations,
personal fine-tuning all work on it unchanged), and no training photo or feature ships. The
teacher scores a pair with that pair's own outfits left out of the memory (leave one out), so
the student learns what carries over to new products, not the memory's recall of old ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stylist.learn.data import ItemTable, training_task
from stylist.learn.datasets import Dataset
from stylist.learn.features import CropFeatures
from stylist.learn.stages import Trained, folded, model_inputs, untrained
from stylist.tasks import Cancel, check_cancel

COMPONENTS = 16  # whitened principal components: the memory's space and the nets' inputs
BETA = 10.0  # kernel sharpness over cosine similarities
SAMPLED_PAIRS = 60_000  # random pairs of training items per pair network, beside the liked pairs
EPOCHS = 6
LR = 1e-3
BATCH = 256
_CHUNK = 4096


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


@dataclass
class OutfitMemory:
    """Liked outfits as rows of item indices, and every item's unit vector."""

    outfits: np.ndarray  # (P, 3) item rows of the remembered outfits
    vectors: np.ndarray  # (N, K) unit vectors of every item (view 0: the photo as it is)
    beta: float = BETA

    def pair_scores(
        self,
        slot_a: int,
        slot_b: int,
        a: np.ndarray,
        b: np.ndarray,
        queries: np.ndarray | None = None,
        leave_out: bool = False,
    ) -> np.ndarray:
        """(M,) the memory's score of item pairs (a[m] in ``slot_a``, b[m] in ``slot_b``).

        ``queries``: the items' vectors to score with (e.g. an augmented view; default the
        memory's own). ``leave_out``: remembered outfits holding a or b themselves are ignored.
        """
        q = self.vectors if queries is None else queries
        ma = self.vectors[self.outfits[:, slot_a]]  # (P, K)
        mb = self.vectors[self.outfits[:, slot_b]]
        out = np.empty(len(a), dtype=np.float64)
        for s in range(0, len(a), _CHUNK):
            ia, ib = a[s : s + _CHUNK], b[s : s + _CHUNK]
            sa = self.beta * (q[ia] @ ma.T)  # (m, P)
            sb = self.beta * (q[ib] @ mb.T)
            n_a = n_b = n_ab = np.full(len(ia), float(len(self.outfits)))
            if leave_out:
                gone_a = ia[:, None] == self.outfits[None, :, slot_a]
                gone_b = ib[:, None] == self.outfits[None, :, slot_b]
                sa[gone_a], sb[gone_b] = -1e9, -1e9
                n_a, n_b = n_a - gone_a.sum(1), n_b - gone_b.sum(1)
                n_ab = n_ab - (gone_a | gone_b).sum(1)
            # log of the mean kernel product over the mean kernels: N·Σ k_a k_b / (Σ k_a · Σ k_b)
            out[s : s + _CHUNK] = (
                _logsumexp(sa + sb)
                - np.log(np.maximum(n_ab, 1))
                - (_logsumexp(sa) - np.log(np.maximum(n_a, 1)))
                - (_logsumexp(sb) - np.log(np.maximum(n_b, 1)))
            )
        return out

    def scores(self, triples: np.ndarray, pairs, queries: np.ndarray | None = None) -> np.ndarray:
        """(M,) outfits' scores: the sum of their pairs' scores."""
        return sum(
            self.pair_scores(i, j, triples[:, i], triples[:, j], queries) for _, i, j in pairs
        )


def memory_of(model: Trained, table: ItemTable, outfits: np.ndarray, beta: float = BETA):
    """The memory of ``outfits`` in ``model``'s input space (normalised, projected)."""
    return _remember(model_inputs(model, table), outfits, beta)


def _remember(inputs: np.ndarray, outfits: np.ndarray, beta: float) -> OutfitMemory:
    """The memory of ``outfits`` over (V, N, K) model inputs (view 0: the photos as they are)."""
    return OutfitMemory(outfits=outfits, vectors=_unit(inputs[0].astype(np.float64)), beta=beta)


def _distil_pair(
    matcher: torch.nn.Module,
    x: torch.Tensor,
    a: np.ndarray,
    b: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    epochs: int,
    cancel: Cancel | None,
) -> float:
    """Fit ``matcher``'s logit difference to ``target`` (standardised) on item pairs, each item
    drawn as a random view of itself at every step; returns the last epoch's mean loss."""
    y = torch.as_tensor((target - target.mean()) / max(target.std(), 1e-9), dtype=torch.float32)
    at, bt = torch.as_tensor(a), torch.as_tensor(b)
    opt = torch.optim.AdamW(matcher.parameters(), lr=LR, weight_decay=5e-4)
    views = x.shape[0]
    loss_sum = 0.0
    for _ in range(epochs):
        check_cancel(cancel, "training the general model")
        order = torch.as_tensor(rng.permutation(len(a)))
        loss_sum, batches = 0.0, 0
        for s in range(0, len(a), BATCH):
            idx = order[s : s + BATCH]
            va = torch.as_tensor(rng.integers(0, views, len(idx)))
            vb = torch.as_tensor(rng.integers(0, views, len(idx)))
            logits = matcher(torch.cat((x[va, at[idx]], x[vb, bt[idx]]), dim=1))
            loss = ((logits[:, 1] - logits[:, 0] - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum, batches = loss_sum + loss.item(), batches + 1
        loss_sum /= max(batches, 1)
    return loss_sum


def _merged(tables: list[ItemTable]) -> tuple[ItemTable, list[int]]:
    """One table of several datasets' items (same backbone, same views) and each one's offset."""
    offsets = np.cumsum([0] + [len(t.crops.keys) for t in tables[:-1]]).tolist()
    parts = [t.crops for t in tables]
    crops = CropFeatures(
        keys=[f"{n}:{k}" for n, c in enumerate(parts) for k in c.keys],
        hashes=[h for c in parts for h in c.hashes],
        features=np.concatenate([c.features for c in parts], axis=1),
        size=np.concatenate([c.size for c in parts]),
        colour=np.concatenate([c.colour for c in parts], axis=1),
        backbone_id=parts[0].backbone_id,
        backbone_sha256=parts[0].backbone_sha256,
    )
    origin = np.arange(len(crops.keys), dtype=np.int64)
    return ItemTable(crops=crops, index=crops.index(), origin=origin), offsets


def stage_one_memory(
    dataset: Dataset,
    table: ItemTable,
    users: list[str | None],
    *,
    also: tuple[tuple[Dataset, ItemTable], ...] = (),
    components: int = COMPONENTS,
    beta: float = BETA,
    sampled_pairs: int = SAMPLED_PAIRS,
    epochs: int = EPOCHS,
    seed: int = 0,
    cancel: Cancel | None = None,
) -> Trained:
    """Net C for ``dataset``'s family, distilled from the memory of its liked train outfits.

    ``also``: further datasets of the same family (and backbone) whose liked train outfits are
    remembered too, e.g. street photos beside product photos; each source gets its own
    ``sampled_pairs`` random pairs, drawn within it.

    Returns the net with its projection folded in (a net over the backbone's features), like
    ``stages.stage_one``; ``info`` holds the recipe and each pair's final distillation loss.
    """
    rng = np.random.default_rng([seed, 31])
    sources = [(dataset, table, users), *((d, t, d.users()) for d, t in also)]
    merged, offsets = _merged([t for _, t, _ in sources]) if also else (table, [0])
    per_source = [
        training_task(d, t, u, mode="random").positives + off
        for (d, t, u), off in zip(sources, offsets, strict=True)
    ]
    positives = np.concatenate(per_source)
    model = untrained(
        "C",
        merged,
        seed=seed,
        train_items=positives,
        reduce=components,
        init="torch",
        family=dataset.family,
    )
    inputs = model_inputs(model, merged)  # (V, N, K)
    memory = _remember(inputs, positives, beta)
    x = torch.as_tensor(inputs)
    losses = {}
    for name, i, j in model.net.pair_defs:
        a_parts, b_parts = [], []
        for pos in per_source:
            a_parts += [rng.choice(np.unique(pos[:, i]), sampled_pairs), pos[:, i]]
            b_parts += [rng.choice(np.unique(pos[:, j]), sampled_pairs), pos[:, j]]
        a, b = np.concatenate(a_parts), np.concatenate(b_parts)
        target = memory.pair_scores(i, j, a, b, leave_out=True)
        losses[name] = _distil_pair(model.net.pairs[name], x, a, b, target, rng, epochs, cancel)
    model.info.update(
        {
            "stage": "one",
            "teacher": "outfit memory (pointwise mutual information, leave one out)",
            "components": components,
            "beta": beta,
            "sampled_pairs": sampled_pairs,
            "epochs": epochs,
            "seed": seed,
            "train_positives": [int(p.shape[0]) for p in per_source],
            "distillation_loss": losses,
        }
    )
    return folded(model)
