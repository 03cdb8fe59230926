"""The bottleneck DP of chain plans, over (stages so far, position, last peer).

Two planners run it with their own costs: `throughput.bottleneck_chain` (a stage at its
compute, a link at its transfer: the period of one chain alone) and the period game's best
response, `placement.chain_joint.respond` (each resource at the others' utilisation on it
plus the source's own). A label carries its path's peers, since a chain's stages sit on
distinct peers; that breaks the optimal substructure, so the DP is a heuristic (the exact
minimum is `throughput_exact`). Pure.

    chain_dp(link, src, layers, comp, fits) -> (finals, back)
    walk(back, s, k, p) -> [(a, b, peer)]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def chain_dp(link: np.ndarray, src: int, layers: int, comp: Callable[[int], np.ndarray],
             fits: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The bottleneck DP over (stages so far, position, last peer) that `bottleneck_chain`
    and the period game's best response (`placement.chain_joint.respond`) both run, each
    with its own costs: `link[a, q, p]` moving position a's bytes from q to p (0 on q == p),
    `comp(b)[a, p]` positions [a, b) on p, `fits(b)[a, p]` whether p may take them. A
    chain starts on `src` at position 0, has at most `layers` stages on distinct peers and
    ends by sending the last position's bytes home to `src`.

    Returns (finals, back): finals[s, p] the least bottleneck of an s-stage chain whose last
    stage is on p, home included (inf: none); back[s, k, p] = (a, q), the label it came
    from (`walk`). Each label carries its path's peers, which later stages may not reuse;
    one label per stage count (not one per (k, p)) keeps the short paths that use few peers
    alive beside the fast ones that use many."""
    m, n = link.shape[0], link.shape[1]
    best = np.full((layers + 1, m, n), math.inf)
    best[0, 0, src] = 0.0
    used = np.zeros((layers + 1, m, n, n), dtype=bool)  # [s, k, p, peer on the path]
    back = np.zeros((layers + 1, m, n, 2), dtype=np.int64)
    own = np.eye(n, dtype=bool)
    for b in range(1, m):
        cost, ok = comp(b), fits(b)
        for s in range(1, min(layers, b) + 1):
            prev = best[s - 1, :b]  # [a, q]
            if not np.isfinite(prev).any():
                continue
            cand = np.maximum(np.maximum(prev[:, :, None], cost[:, None, :]), link[:b])
            cand[used[s - 1, :b]] = math.inf  # [a, q, p]: p is on the path to (a, q)
            cand[np.broadcast_to(~ok[:, None, :], cand.shape)] = math.inf
            flat = cand.reshape(b * n, n)
            choice = np.argmin(flat, axis=0)
            best[s, b] = flat[choice, np.arange(n)]
            a, q = np.divmod(choice, n)
            back[s, b, :, 0], back[s, b, :, 1] = a, q
            used[s, b] = used[s - 1, a, q] | own
    return np.maximum(best[:, m - 1, :], link[m - 1, :, src][None, :]), back


def walk(back: np.ndarray, s: int, k: int, p: int) -> list[tuple[int, int, int]]:
    """The route (a, b, peer) of `chain_dp`'s label (s, k, p), first stage first."""
    route = []
    while s > 0:
        a, q = back[s, k, p]
        route.append((int(a), k, p))
        k, p, s = int(a), int(q), s - 1
    return route[::-1]
