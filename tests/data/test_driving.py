"""The generated driving stream: deterministic, moving, labelled with a sensible sign."""

from __future__ import annotations

import numpy as np
import pytest

from fognet.data.driving import AVOID_DISTANCE, Car, DrivingStream, steering_angle
from fognet.data.source import Frame, FrameSource
from fognet.errors import FrameError


def test_frames_have_the_promised_shape_and_timestamps():
    stream = DrivingStream(4, fps=10.0, seed=3, size=(72, 128))
    frames = list(stream)
    assert isinstance(stream, FrameSource) and len(stream) == 4
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    for f in frames:
        assert isinstance(f, Frame)
        assert f.image.shape == (72, 128, 3) and f.image.dtype == np.uint8
        assert isinstance(f.steering, float)


def test_same_seed_same_frames_other_seed_other_frames():
    a, b, c = (DrivingStream(3, seed=s, size=(180, 320)) for s in (7, 7, 8))
    for i in range(3):
        assert np.array_equal(a[i].image, b[i].image)
        assert a[i].steering == b[i].steering
    assert not np.array_equal(a[2].image, c[2].image)


def test_random_access_equals_iteration():
    stream = DrivingStream(5, seed=1, size=(90, 160))
    frames = list(stream)
    assert np.array_equal(stream[4].image, frames[4].image)
    with pytest.raises(IndexError):
        stream[5]


def test_frames_change_over_time():
    stream = DrivingStream(60, fps=30.0, seed=2)
    first, later = stream[0].image, stream[59].image
    changed = np.mean(np.any(first != later, axis=2))
    assert changed > 0.01
    assert stream[0].steering != stream[59].steering


def test_full_size_frame_has_sky_above_and_road_below():
    image = DrivingStream(1, seed=0)[0].image
    assert image.shape == (720, 1280, 3)
    sky, road = image[10, 640], image[700, 640]
    assert sky[2] > sky[0]  # blue sky
    assert abs(int(road[0]) - int(road[2])) < 20  # grey road


@pytest.mark.parametrize("curvature", [0.004, -0.004])
def test_steering_follows_hand_set_curvature(curvature):
    stream = DrivingStream(10, seed=5, curvature=curvature)
    far_cars = [c for i in range(10) for c in stream.scene(i).cars if c.lane == 0 and c.z < AVOID_DISTANCE]
    if far_cars:  # a car close ahead would add an avoidance turn; pick a clear seed
        pytest.skip("seed puts a car close ahead")
    angles = [f.steering for f in stream]
    assert all(np.sign(a) == np.sign(curvature) for a in angles)
    # and the drawn road bends the same way: the road centre near the horizon moves
    image = stream[0].image
    row = image[stream._horizon + 8]
    road = np.flatnonzero(np.all(np.abs(row.astype(int) - [88, 88, 92]) < 3, axis=1))
    assert np.sign(road.mean() - image.shape[1] / 2) == np.sign(curvature)


def test_straight_road_has_zero_steering():
    assert steering_angle(0.0, []) == 0.0
    assert steering_angle(0.003, []) > 0 > steering_angle(-0.003, [])


def test_car_close_ahead_makes_us_steer_away_and_more_when_closer():
    near = steering_angle(0.0, [Car(0, 8.0, (0, 0, 0))])
    farther = steering_angle(0.0, [Car(0, 20.0, (0, 0, 0))])
    assert near > farther > 0  # right lane free: steer right
    blocked = steering_angle(0.0, [Car(0, 8.0, (0, 0, 0)), Car(1, 10.0, (0, 0, 0))])
    assert blocked < 0  # right lane taken: steer left
    assert steering_angle(0.0, [Car(0, AVOID_DISTANCE + 5, (0, 0, 0))]) == 0.0
    assert steering_angle(0.0, [Car(-1, 8.0, (0, 0, 0))]) == 0.0


def test_bad_arguments_are_refused():
    with pytest.raises(FrameError):
        DrivingStream(3, fps=0)


def test_labels_carry_speed_heading_and_the_drawn_car_boxes():
    stream = DrivingStream(3, seed=4, size=(180, 320), curvature=0.002)
    frames = list(stream)
    assert [f.labels.speed for f in frames] == [20.0, 20.0, 20.0]
    # a right bend turns the car clockwise: yaw (counter-clockwise from east) falls
    yaws = [f.labels.yaw for f in frames]
    assert yaws[0] == 0.0 and yaws[2] < yaws[1] < 0.0
    assert yaws[2] == pytest.approx(-0.002 * 20.0 * 2 / 30.0)
    boxes = frames[0].labels.boxes
    assert boxes and all(b.category == "car" for b in boxes)
    colors = {c.color for c in stream.scene(0).cars}
    for b in boxes:
        assert 0 <= b.x1 < b.x2 <= 320 and 0 <= b.y1 < b.y2 <= 180
        # the box is where a car was drawn: it holds pixels of a car's colour
        patch = frames[0].image[int(b.y1):int(b.y2), int(b.x1):int(b.x2)].reshape(-1, 3)
        assert {tuple(int(v) for v in px) for px in patch} & colors
