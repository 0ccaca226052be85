"""How long something lasts, learnt from what the queue sees, with no shape assumed: pure and cheap.

Used for the callers' patience and for operators' pauses. A real centre's callers are not exponentially
patient (the log benchmarks/wait_estimate_real.py replays, studied by Brown et al., JASA 2005): the hazard is
highest in the first 20 seconds and about halves after two minutes, so a caller who has waited three minutes
is less likely to go in the next minute than one who just joined. Operators' pauses are far more lopsided:
the log's after-call gaps have a median of 6 s and a mean of 66 s. The exponential estimate (endings / total
time) is one constant hazard; this is the same estimate per 10-second band of the duration (the maximum-
likelihood piecewise-constant hazard), which handles censored durations the same way: a served caller's wait
counts as time at risk with no abandon. A band that has seen little is shrunk towards the overall rate.

`sampler().remaining` draws a remaining duration given the time already elapsed, by inverting the cumulative
hazard: what a forward simulation of the queue needs for each caller ahead and each paused operator.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

BAND_SECONDS = 10.0
BANDS = 60  # ten minutes of bands; beyond, one hazard for the whole tail
# Pseudo-exposure (seconds) at the overall rate in every band: a band's own data outweighs it after a few
# dozen durations have passed through it.
PRIOR_SECONDS = 300.0
# Before anything is learnt: a mean of four minutes, worth twenty minutes of observation.
DEFAULT_RATE = 1 / 240.0
DEFAULT_SECONDS = 1200.0
QUANTILES = 128


@dataclass
class HazardCurve:
    prior_rate: float = DEFAULT_RATE
    endings: list[float] = field(default_factory=lambda: [0.0] * (BANDS + 1))
    exposure: list[float] = field(default_factory=lambda: [0.0] * (BANDS + 1))
    _sampler: DurationSampler | None = None  # rebuilt after a change, when next asked

    def add(self, seconds: float, ended: bool) -> None:
        """A duration of `seconds` that ended then (`ended`), or was still going on (censored)."""
        seconds = max(0.0, seconds)
        full = min(int(seconds // BAND_SECONDS), BANDS)
        for band in range(full):
            self.exposure[band] += BAND_SECONDS
        self.exposure[full] += seconds - full * BAND_SECONDS
        if ended:
            self.endings[full] += 1
        self._sampler = None

    @property
    def count(self) -> float:
        return sum(self.endings)

    @property
    def overall_rate(self) -> float:
        """The exponential estimate: endings per second at risk (the prior of every band)."""
        return (sum(self.endings) + self.prior_rate * DEFAULT_SECONDS) / (sum(self.exposure) + DEFAULT_SECONDS)

    def hazards(self) -> list[float]:
        prior = self.overall_rate
        return [(a + prior * PRIOR_SECONDS) / (e + PRIOR_SECONDS) for a, e in zip(self.endings, self.exposure,
                                                                                   strict=True)]

    def survival(self, seconds: float) -> float:
        """The chance that a duration lasts beyond `seconds`."""
        sampler = self.sampler()
        return math.exp(-cumulative_at(seconds, sampler.edges, sampler.tail))

    def mean(self) -> float:
        """The mean duration (the integral of the survival curve)."""
        sampler = self.sampler()
        total = 0.0
        for band in range(BANDS):
            low, high = math.exp(-sampler.edges[band]), math.exp(-sampler.edges[band + 1])
            total += BAND_SECONDS * (low + high) / 2
        beyond = math.exp(-sampler.edges[BANDS])
        return total + (beyond / sampler.tail if sampler.tail > 0 else math.inf if beyond > 0 else 0.0)

    def sampler(self) -> DurationSampler:
        """The current curve frozen for one estimate's many draws."""
        if self._sampler is None:
            rates = self.hazards()
            total, edges = 0.0, [0.0]
            for rate in rates[:BANDS]:
                total += rate * BAND_SECONDS
                edges.append(total)
            tail = rates[BANDS]
            fresh = tuple(inverse(-math.log(1 - (i + 0.5) / QUANTILES), edges, tail) for i in range(QUANTILES))
            self._sampler = DurationSampler(edges, tail, fresh)
        return self._sampler


@dataclass(frozen=True)
class DurationSampler:
    edges: list[float]  # the cumulative hazard at each band's start, the last one the tail's start
    tail: float
    # The quantiles of a whole duration: a draw from the start is one look-up, and estimates draw a pause
    # after every call they play forward.
    fresh: tuple[float, ...] = ()

    def remaining(self, rng: random.Random, elapsed: float) -> float:
        """A remaining duration (seconds from now) given it has lasted `elapsed` seconds."""
        if elapsed <= 0 and self.fresh:
            return self.fresh[int(rng.random() * len(self.fresh))]
        target = cumulative_at(elapsed, self.edges, self.tail) + rng.expovariate(1.0)
        return max(0.0, inverse(target, self.edges, self.tail) - elapsed)


def cumulative_at(seconds: float, edges: list[float], tail: float) -> float:
    band = min(int(seconds // BAND_SECONDS), BANDS)
    if band >= BANDS:
        return edges[BANDS] + tail * (seconds - BANDS * BAND_SECONDS)
    slope = (edges[band + 1] - edges[band]) / BAND_SECONDS
    return edges[band] + slope * (seconds - band * BAND_SECONDS)


def inverse(target: float, edges: list[float], tail: float) -> float:
    """The duration at which the cumulative hazard reaches `target` (inf: a tail with no hazard never does)."""
    if target >= edges[BANDS]:
        return math.inf if tail <= 0 else BANDS * BAND_SECONDS + (target - edges[BANDS]) / tail
    band = bisect.bisect_right(edges, target) - 1
    rise = edges[band + 1] - edges[band]
    return (band + ((target - edges[band]) / rise if rise > 0 else 0.0)) * BAND_SECONDS
