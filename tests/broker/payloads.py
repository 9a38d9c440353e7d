"""Message bodies for the broker tests."""

from __future__ import annotations

from edge.config import AggregateConfig
from edge.payload import ModelIds
from edge.testing import sample_counts, sample_status

GENDERS = ("female", "male", "unknown")


def counts(node_id: str, seq: int = 1) -> bytes:
    return sample_counts(node_id, seq).to_json()


def status(node_id: str) -> bytes:
    return sample_status(node_id).to_json()


def notice(node_id: str) -> bytes:
    return b'{"node_id": "%s", "purposes": ["footfall"], "k": 5}' % node_id.encode()


def largest_counts(node_id: str = "n" * 63) -> bytes:
    """The biggest valid counts message: 120 age-band edges, every cell withheld."""
    labels = AggregateConfig(age_bands=tuple(range(1, 121))).band_labels()
    suppressed = [
        "people",
        *(f"gender.{g}" for g in GENDERS),
        *(f"age_bands.{b}" for b in labels),
        *(f"joint.{g}.{b}" for g in GENDERS for b in labels),
    ]
    payload = sample_counts(
        node_id,
        seq=10**6,
        people=None,
        gender=dict.fromkeys(GENDERS),
        age_bands=dict.fromkeys(labels),
        joint={g: dict.fromkeys(labels) for g in GENDERS},
        suppressed=suppressed,
        k=1000,
        model=ModelIds(
            detector="face_detection_full_range@99bf9494",
            age="age-v1@4f9f0075",
            gender="gender-v1@d4c4116c",
        ),
    )
    body = payload.to_json()
    # seq up to 2**63-1 (19 digits) instead of 1000000 (7).
    return body.replace(b'"seq":1000000', b'"seq":9223372036854775807')
