"""Which observations of a track are worth age/gender: the first few good ones, and better ones.

The tracker fuses a person's age and p(male) over the observations that were estimated,
each weighted by its quality (``edge.counting.tracker.quality``). Once a track holds
``[attributes] estimates_per_track`` estimates, one more view of the same person from
about the same distance adds little, so its face is estimated again only when it is
clearly better (``reestimate_better`` times the best quality estimated so far: the person
came closer or turned to the camera). The rule sees numbers only (counts and qualities).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import AttributesConfig


@dataclass(frozen=True, slots=True)
class EvidenceRule:
    """``per_track`` 0 means every good face of every sampled frame is estimated."""

    per_track: int = 0
    better: float = 1.15

    @classmethod
    def from_config(cls, cfg: AttributesConfig) -> EvidenceRule:
        return cls(cfg.estimates_per_track, cfg.reestimate_better)

    @property
    def selective(self) -> bool:
        return self.per_track > 0

    def wants(self, estimates: int, best: float, quality: float) -> bool:
        """Whether an observation of this quality should be estimated for its track."""
        if not self.selective or estimates < self.per_track:
            return True
        return quality > best * self.better
