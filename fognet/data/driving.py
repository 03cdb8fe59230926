"""A generated dash-cam stream with steering labels, so demos and tests need no dataset.

The scene is a three-lane road seen from a camera 1.4 m above it, ego car in the middle
lane, driving at a constant speed. The road's curvature is a smooth function of
arclength (a seeded sum of two sinusoids, wavelengths of hundreds of metres), so the
road ahead bends before the car reaches the bend, and successive frames change a
little. Other cars sit in the three lanes at seeded distances and drift with seeded
relative speeds (wrapping from near to far), drawn as boxes scaled by perspective.

Frame `i` is a pure function of (seed, i / fps): random access, deterministic, and
cheap (a 1280x720 frame is a background copy, one class map over the ground rows,
a palette lookup and a few box fills; a few ms with numpy).

Steering label (radians, steering-wheel angle, positive = right as in the Udacity
data): the front-wheel angle that follows the curvature a little ahead,
`atan(wheelbase * c)`, times a steering ratio, plus a turn away from a car ahead in
our lane closer than `AVOID_DISTANCE` (stronger the closer it is), toward the side
it leaves more room on.

API
    DrivingStream(n_frames, fps=30.0, seed=0, size=(720, 1280), curvature=None)
        iter / len / [i] -> Frame;  .scene(i) -> Scene;  curvature: a constant (1/m),
        positive bends right, to hand-set the road in tests.  A frame's Labels carry the
        steering, the ego speed, the heading (yaw as OXTS gives it: rad counter-clockwise
        from east; the drive starts heading east)
        and a "car" Box per car in view (the drawn box, clipped to the image).
    Car(lane, z, color)                    frozen: lane -1/0/1, distance ahead in metres
    steering_angle(curvature, cars) -> float
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fognet.data.source import Box, Frame, Labels
from fognet.errors import FrameError

CAMERA_HEIGHT = 1.4  # m
LANE_WIDTH = 3.6  # m
SPEED = 20.0  # m/s, ego speed
WHEELBASE = 2.7  # m
STEERING_RATIO = 15.0  # steering-wheel angle / front-wheel angle
LOOKAHEAD = 10.0  # m: curvature is read this far ahead for the steering label
AVOID_DISTANCE = 30.0  # m: a car in our lane closer than this makes us steer away
AVOID_MAX = 0.25  # rad of steering-wheel angle at distance 0
Z_NEAR, Z_FAR = 6.0, 150.0  # m: cars wrap inside this range
MAX_DEPTH = 400.0  # m: ground rows farther than this are drawn as the horizon
N_CARS = 5
CAR_WIDTH, CAR_HEIGHT = 1.8, 1.5  # m

# Ground colours.
GRASS, ROAD, LINE, EDGE = 0, 1, 2, 3
PALETTE = np.array([[62, 110, 48], [88, 88, 92], [235, 235, 235], [240, 200, 40]], np.uint8)


@dataclass(frozen=True)
class Car:
    """Another car: lane offset (-1 left, 0 ours, 1 right), distance ahead (m), colour."""

    lane: int
    z: float
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """Everything frame `index` is drawn from (distances in metres)."""

    index: int
    time: float
    travelled: float
    curvature: float  # 1/m at the ego car, positive bends right
    cars: tuple[Car, ...]


def steering_angle(curvature: float, cars: tuple[Car, ...] | list[Car]) -> float:
    """Steering-wheel angle (rad, positive right) for road curvature and cars ahead."""
    angle = STEERING_RATIO * math.atan(WHEELBASE * curvature)
    ahead = [c for c in cars if c.lane == 0 and c.z < AVOID_DISTANCE]
    if ahead:
        nearest = min(ahead, key=lambda c: c.z)
        right_free = not any(c.lane == 1 and abs(c.z - nearest.z) < 15.0 for c in cars)
        side = 1.0 if right_free else -1.0
        angle += side * AVOID_MAX * (1.0 - nearest.z / AVOID_DISTANCE)
    return float(angle)


class _Road:
    """Curvature along the road as a function of arclength, with closed-form offsets."""

    def __init__(self, rng: np.random.Generator, constant: float | None) -> None:
        self.constant = constant
        self.amp = rng.uniform(0.0015, 0.004, size=2) * rng.choice([-1.0, 1.0], size=2)
        self.omega = 2 * np.pi / rng.uniform(250.0, 900.0, size=2)
        self.phase = rng.uniform(0, 2 * np.pi, size=2)

    def curvature(self, s: float) -> float:
        if self.constant is not None:
            return float(self.constant)
        return float(np.sum(self.amp * np.sin(self.omega * s + self.phase)))

    def turned(self, s: float) -> float:
        """Radians turned right after arclength s: the integral of the curvature from 0."""
        if self.constant is not None:
            return float(self.constant * s)
        return float(np.sum(self.amp / self.omega * (np.cos(self.phase) - np.cos(self.omega * s + self.phase))))

    def offset(self, s0: float, z: np.ndarray) -> np.ndarray:
        """Lateral offset (m, right positive) of the road centre at distance z ahead of s0.

        Double integral of the curvature from s0, heading aligned with the road at s0.
        """
        z = np.asarray(z, dtype=np.float64)
        if self.constant is not None:
            return 0.5 * self.constant * z * z
        out = np.zeros_like(z)
        for a, w, p in zip(self.amp, self.omega, self.phase, strict=True):
            th = w * s0 + p
            out += a * (z * np.cos(th) / w - (np.sin(th + w * z) - np.sin(th)) / (w * w))
        return out


class DrivingStream:
    """`n_frames` generated dash-cam frames at `fps`, deterministic per `seed`."""

    def __init__(
        self,
        n_frames: int,
        fps: float = 30.0,
        seed: int = 0,
        size: tuple[int, int] = (720, 1280),
        curvature: float | None = None,
    ) -> None:
        if n_frames < 0 or fps <= 0 or min(size) < 16:
            raise FrameError(f"need n_frames >= 0, fps > 0, size >= 16x16; got {n_frames}, {fps}, {size}")
        self.n_frames, self.fps, self.seed = int(n_frames), float(fps), int(seed)
        self.height, self.width = int(size[0]), int(size[1])
        rng = np.random.default_rng(seed)
        self._road = _Road(rng, curvature)
        self._cars = self._seed_cars(rng)
        self._focal = 0.8 * self.width
        self._horizon = int(0.45 * self.height)
        self._background = self._draw_background(rng)
        self._ground_setup()

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.n_frames):
            yield self[i]

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} out of range 0..{self.n_frames - 1}")
        scene = self.scene(index)
        lookahead = self._road.curvature(scene.travelled + LOOKAHEAD)
        labels = Labels(
            steering=steering_angle(lookahead, scene.cars),
            speed=SPEED,
            yaw=-self._road.turned(scene.travelled),
            boxes=tuple(b for b in (self._box(scene, c) for c in scene.cars) if b is not None),
        )
        return Frame(index, self._draw(scene), scene.time, labels, f"generated#{index}")

    # -- scene --------------------------------------------------------------------------

    def _seed_cars(self, rng: np.random.Generator) -> list[tuple[int, float, float, tuple]]:
        cars = []
        for _ in range(N_CARS):
            lane = int(rng.integers(-1, 2))
            z0 = float(rng.uniform(Z_NEAR, Z_FAR))
            v_rel = float(rng.uniform(-4.0, 3.0))
            color = tuple(int(c) for c in rng.integers(30, 230, size=3))
            cars.append((lane, z0, v_rel, color))
        return cars

    def scene(self, index: int) -> Scene:
        """The scene of frame `index`: a pure function of (seed, index / fps)."""
        t = index / self.fps
        span = Z_FAR - Z_NEAR
        cars = tuple(
            Car(lane, Z_NEAR + (z0 + v * t - Z_NEAR) % span, color)
            for lane, z0, v, color in self._cars
        )
        return Scene(index, t, SPEED * t, self._road.curvature(SPEED * t), cars)

    # -- drawing ------------------------------------------------------------------------

    def _draw_background(self, rng: np.random.Generator) -> np.ndarray:
        h, w, hz = self.height, self.width, self._horizon
        img = np.empty((h, w, 3), np.uint8)
        top, low = np.array([70, 120, 200], float), np.array([190, 215, 235], float)
        top = top + rng.uniform(-20, 20, 3)
        f = np.linspace(0.0, 1.0, hz)[:, None]
        img[:hz] = (top * (1 - f) + low * f).astype(np.uint8)[:, None, :]
        img[hz:] = PALETTE[GRASS]
        return img

    def _ground_setup(self) -> None:
        rows = np.arange(self._horizon + 1, self.height, dtype=np.float64)
        self._depth = np.minimum(self._focal * CAMERA_HEIGHT / (rows - self._horizon), MAX_DEPTH)
        self._px_per_m = self._focal / self._depth  # pixels per metre at each ground row

    def _screen_x(self, lateral: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.width / 2 + self._focal * lateral / z

    def _draw(self, scene: Scene) -> np.ndarray:
        img = self._background.copy()
        self._draw_ground(img, scene)
        for car in sorted(scene.cars, key=lambda c: -c.z):
            self._draw_car(img, scene, car)
        return img

    def _draw_ground(self, img: np.ndarray, scene: Scene) -> None:
        """Fill the road, its edge lines and dashed lane lines as one span per row each.

        Span ends are computed for all rows at once; the loop only does slice fills
        (a handful per row), which is cheaper than a per-pixel class map and lookup.
        """
        z, ppm = self._depth, self._px_per_m
        centre = self._screen_x(self._road.offset(scene.travelled, z), z)
        half_line = np.maximum(0.075 * ppm, 0.5)  # pixels; lines at least a pixel wide
        half = 1.5 * LANE_WIDTH
        dashed = ((z + scene.travelled) % 12.0) < 4.0

        def span(offset_m: float, half_px: np.ndarray) -> np.ndarray:
            mid = centre + offset_m * ppm
            lo = np.rint(mid - half_px)
            hi = np.maximum(np.rint(mid + half_px), lo + 1)
            return np.clip(np.stack([lo, hi], axis=1), 0, self.width).astype(np.int64)

        road = span(0.0, half * ppm)
        edges = [span(s * (half - 0.2), half_line) for s in (-1.0, 1.0)]
        lanes = [span(s * LANE_WIDTH / 2, half_line) for s in (-1.0, 1.0)]
        lanes = [np.where(dashed[:, None], sp, 0) for sp in lanes]
        bounds = np.concatenate([road, *edges, *lanes], axis=1).tolist()
        colors = [PALETTE[ROAD], PALETTE[EDGE], PALETTE[EDGE], PALETTE[LINE], PALETTE[LINE]]
        ground = img[self._horizon + 1 :]
        for row, b in zip(ground, bounds, strict=True):
            for k, color in enumerate(colors):
                if b[2 * k] < b[2 * k + 1]:
                    row[b[2 * k] : b[2 * k + 1]] = color

    def _car_rect(self, scene: Scene, car: Car) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixels of a car's box, unclipped: what is drawn and labelled."""
        lateral = car.lane * LANE_WIDTH + float(self._road.offset(scene.travelled, np.array(car.z)))
        scale = self._focal / car.z
        cx = float(self._screen_x(np.array(lateral), np.array(car.z)))
        bottom = self._horizon + scale * CAMERA_HEIGHT
        box_w, box_h = scale * CAR_WIDTH, scale * CAR_HEIGHT
        return int(cx - box_w / 2), int(bottom - box_h), int(cx + box_w / 2) + 1, int(bottom) + 1

    def _box(self, scene: Scene, car: Car) -> Box | None:
        """The car's label: its drawn box clipped to the image, or None when out of view."""
        x0, y0, x1, y1 = self._car_rect(scene, car)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        return Box("car", float(x0), float(y0), float(x1), float(y1)) if x0 < x1 and y0 < y1 else None

    def _draw_car(self, img: np.ndarray, scene: Scene, car: Car) -> None:
        h, w = self.height, self.width
        x0, y0, x1, y1 = self._car_rect(scene, car)

        def fill(ya: int, yb: int, xa: int, xb: int, color) -> None:
            ya, yb, xa, xb = max(ya, 0), min(yb, h), max(xa, 0), min(xb, w)
            if ya < yb and xa < xb:
                img[ya:yb, xa:xb] = color

        fill(y0, y1, x0, x1, car.color)
        bw, bh = x1 - x0, y1 - y0
        fill(y0 + bh // 8, y0 + bh // 2, x0 + bw // 8, x1 - bw // 8, (40, 50, 60))  # rear window
        lamp_w, lamp_h = max(bw // 6, 1), max(bh // 8, 1)
        ly = y0 + (bh * 5) // 8
        fill(ly, ly + lamp_h, x0 + bw // 16, x0 + bw // 16 + lamp_w, (200, 20, 20))
        fill(ly, ly + lamp_h, x1 - bw // 16 - lamp_w, x1 - bw // 16, (200, 20, 20))
        fill(y1 - max(bh // 10, 1), y1, x0, x1, (20, 20, 20))  # shadow / bumper
