"""Plane geometry in relative frame coordinates (0..1): lines, polygons, crossings."""

from __future__ import annotations

RelPoint = tuple[float, float]
MIN_MASK_AREA = 1e-4  # relative frame area


def check_points(points: tuple[RelPoint, ...]) -> None:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"point ({x:g}, {y:g}) is outside the frame: relative coordinates go from 0 to 1"
            )


def _cross(o: RelPoint, a: RelPoint, b: RelPoint) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def segments_cross(p1: RelPoint, p2: RelPoint, q1: RelPoint, q2: RelPoint) -> bool:
    """Whether segments p1-p2 and q1-q2 properly cross (touching ends does not count)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def polygon_area(points: tuple[RelPoint, ...]) -> float:
    """Absolute area by the shoelace formula."""
    n = len(points)
    twice = sum(
        points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
        for i in range(n)
    )
    return abs(twice) / 2


def point_in_polygon(x: float, y: float, points: tuple[RelPoint, ...]) -> bool:
    inside = False
    n = len(points)
    for i in range(n):
        (x1, y1), (x2, y2) = points[i], points[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def check_polygon(points: tuple[RelPoint, ...]) -> None:
    """Raise ValueError for a polygon out of the frame, degenerate or self-intersecting."""
    check_points(points)
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            if j in (i + 1, (i - 1) % n) or (i == 0 and j == n - 1):
                continue
            if segments_cross(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                raise ValueError(f"polygon is self-intersecting (edges {i} and {j} cross)")
    if polygon_area(points) < MIN_MASK_AREA:
        raise ValueError("polygon is degenerate (its area is practically zero)")
