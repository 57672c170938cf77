"""The scorer on hand-made images: right is scored right, wrong colour / shape / place is scored wrong."""

import numpy as np
from PIL import Image, ImageDraw

from regional.toy.score import colour_map, score_object, score_scene
from regional.toy.world import SIZE, SLOTS, draw_shape, make_scene

LEFT, RIGHT = SLOTS["left"], SLOTS["right"]


def box(*thirty_seconds: int) -> tuple[int, ...]:
    """A pixel box from coordinates in 32nds of the canvas side."""
    return tuple(v * SIZE // 32 for v in thirty_seconds)


IN_LEFT, IN_RIGHT = box(2, 10, 14, 22), box(18, 10, 30, 22)


def canvas(*shapes: tuple[str, str, tuple[int, int, int, int]], background=(245, 245, 245)) -> np.ndarray:
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    for shape, colour, bounds in shapes:
        draw_shape(draw, shape, colour, bounds)
    return np.asarray(image)


def test_red_circle_in_its_box_is_right():
    score = score_object(colour_map(canvas(("circle", "red", IN_LEFT))), "red", "circle", LEFT)
    assert score.colour_ok and score.shape_ok and score.correct


def test_wrong_colour_is_wrong():
    score = score_object(colour_map(canvas(("circle", "blue", IN_LEFT))), "red", "circle", LEFT)
    assert not score.colour_ok and not score.correct


def test_wrong_shape_is_wrong():
    colours = colour_map(canvas(("square", "red", IN_LEFT)))
    assert score_object(colours, "red", "square", LEFT).correct
    score = score_object(colours, "red", "circle", LEFT)
    assert score.colour_ok and not score.shape_ok and score.shape_seen == "square"
    assert score_object(colour_map(canvas(("triangle", "red", IN_LEFT))), "red", "triangle", LEFT).correct


def test_object_in_the_wrong_box_or_missing_is_wrong():
    colours = colour_map(canvas(("circle", "red", IN_RIGHT)))
    assert not score_object(colours, "red", "circle", LEFT).correct
    assert not score_object(colour_map(canvas()), "red", "circle", LEFT).correct


def test_every_ground_truth_render_scores_perfectly():
    for seed in range(200):
        scene = make_scene(seed, 1 + seed % 4)
        score = score_scene(scene.render(), scene)
        assert score.correct, (scene.caption, score)
        assert score.leakage == 0.0


def test_leakage_and_seam():
    scene = next(s for s in (make_scene(i, 2) for i in range(100)) if s.objects[0].slot == "left")
    first, second = scene.objects
    # both objects drawn in the left box: the second colour leaks into the first region
    image = canvas(("circle", first.colour, box(1, 2, 14, 15)), ("circle", second.colour, box(1, 17, 14, 30)))
    assert score_scene(image, scene).leakage > 0.1  # mean of ~0.26 (left) and 0 (right)
    flat = score_scene(canvas(), scene)
    assert flat.seam == 0.0
    split = canvas().copy()
    split[:, SIZE // 2 :] = 15  # white left half, black right half: a hard seam at the region border
    assert score_scene(split, scene).seam > 200
