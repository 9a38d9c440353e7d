"""Kazoe simulator: replay, synthetic scenes, scoring, fleets and broker faults."""
