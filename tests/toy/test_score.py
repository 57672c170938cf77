"""The scorer on hand-made images: right is scored right, wrong colour / shape / place is scored wrong."""

from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from regional.toy.score import colour_map, score_object, score_scene
from regional.toy.world import (
    BACKGROUNDS,
    COLOURS,
    GRID,
    HARD_COUNTS,
    SIZE,
    SLOTS,
    Scene,
    SceneObject,
    draw_shape,
    make_hard_scene,
    make_scene,
)

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


def test_every_hard_ground_truth_render_scores_perfectly():
    """Overlapping boxes and shared colours included: each object right, and an object's colour in another
    object of the same colour is no leak."""
    for count in HARD_COUNTS:
        for seed in range(50):
            scene = make_hard_scene(seed, count)
            score = score_scene(scene.render(), scene)
            assert score.correct, (scene.caption, score)
            assert score.leakage == 0.0, scene.caption


def _render(background: str, objects) -> np.ndarray:
    """``objects`` drawn in their ``bbox`` on the named background."""
    return canvas(*((o.shape, o.colour, tuple(v * SIZE for v in o.bbox)) for o in objects),
                  background=BACKGROUNDS[background])  # fmt: skip


def test_two_objects_of_one_colour_swapped_are_both_wrong():
    scene = make_hard_scene(0, 6)
    colours = [obj.colour for obj in scene.objects]
    first = next(i for i, colour in enumerate(colours) if colours.count(colour) > 1)
    second = colours.index(colours[first], first + 1)
    objects = list(scene.objects)
    a, b = objects[first], objects[second]
    objects[first], objects[second] = replace(a, shape=b.shape), replace(b, shape=a.shape)  # same boxes
    score = score_scene(_render(scene.background, objects), scene)
    assert [obj.correct for obj in score.objects] == [i not in (first, second) for i in range(6)]
    assert score.objects[first].colour_ok and score.objects[first].shape_seen == b.shape
    assert score.leakage == 0.0  # the colours are where they belong: only the shapes are wrong


def test_two_objects_of_one_shape_swapped_are_both_wrong():
    scene = make_hard_scene(1, 5)
    shapes = [obj.shape for obj in scene.objects]
    first = next(i for i, shape in enumerate(shapes) if shapes.count(shape) > 1)
    second = shapes.index(shapes[first], first + 1)
    objects = list(scene.objects)
    a, b = objects[first], objects[second]
    assert a.colour != b.colour
    objects[first], objects[second] = replace(a, colour=b.colour), replace(b, colour=a.colour)
    score = score_scene(_render(scene.background, objects), scene)
    assert [obj.correct for obj in score.objects] == [i not in (first, second) for i in range(5)]
    assert not score.objects[first].colour_ok and not score.objects[second].colour_ok


def _object(colour: str, shape: str, size: str, tokens: tuple[int, ...], pixels: tuple[int, ...]):
    """A hard scene's object from its box in tokens and its drawn shape's box in pixels."""
    return SceneObject(
        colour, shape, size, "box", tuple(v / GRID for v in tokens), tuple(v / SIZE for v in pixels)
    )


def test_another_objects_colour_counts_against_an_object_only_outside_their_overlap():
    """A small red triangle in a 3 x 3-token box, and a large blue square that fills the strip its own box
    shares with the triangle's: more blue than red in the triangle's box, but the blue may be there."""
    triangle = _object("red", "triangle", "small", (0, 0, 3, 3), (0, 8, 32, 40))
    square = _object("blue", "square", "large", (2, 0, 6, 4), (32, 0, 84, 52))
    image = _render("white", (triangle, square))
    in_box = colour_map(image)[:48, :48]
    assert (in_box == list(COLOURS).index("blue")).sum() > (in_box == list(COLOURS).index("red")).sum()
    overlapping = Scene((triangle, square), "white", "a small red triangle and a large blue square")
    assert score_scene(image, overlapping).correct
    # The same pixels, the square's box one token further right: now the blue in the triangle's box is not
    # the square's to draw, and it outweighs the red.
    apart = replace(square, slot_box=(3 / 8, 0.0, 7 / 8, 0.5))
    score = score_scene(image, Scene((triangle, apart), "white", overlapping.caption))
    assert not score.objects[0].colour_ok and not score.objects[0].correct


def test_leakage_sees_foreign_colours_among_shared_ones():
    scene = make_hard_scene(2, 6)
    colours = [obj.colour for obj in scene.objects]
    index = next(i for i, colour in enumerate(colours) if colours.count(colour) > 1)
    foreign = next(colour for colour in colours if colour != colours[index])
    image = scene.render().copy()
    x0, y0, x1, y1 = (round(v * SIZE) for v in scene.objects[index].bbox)
    image[y0:y1, x0:x1] = COLOURS[foreign]  # the object painted over in another object's colour
    score = score_scene(image, scene)
    assert score.leakage > 0.0 and not score.objects[index].correct
