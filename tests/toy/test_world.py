"""The shapes world: deterministic scenes whose captions, layouts and pixels agree."""

import numpy as np
import pytest

from regional.raster import TOKEN_PX
from regional.testing import TINY_WORDS
from regional.toy.evaluate import CAPTIONS, bench_scenes
from regional.toy.world import BACKGROUNDS, COLOURS, SIZE, SLOTS, make_scene, reorder_caption, unplace_caption


def test_same_seed_same_scene_and_pixels():
    for seed in range(20):
        assert make_scene(seed) == make_scene(seed)
        assert np.array_equal(make_scene(seed).render(), make_scene(seed).render())
    assert len({make_scene(seed).caption for seed in range(50)}) > 40


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_ground_truth_matches_the_pixels(count):
    for seed in range(40):
        scene = make_scene(seed, count)
        image = scene.render()
        assert len(scene.objects) == count
        assert (
            len({obj.colour for obj in scene.objects}) == count
        )  # distinct colours keep scoring unambiguous
        for obj in scene.objects:
            x0, y0, x1, y1 = obj.bbox
            sx0, sy0, sx1, sy1 = obj.slot_box
            assert sx0 - 1e-9 <= x0 < x1 <= sx1 + 1e-9 and sy0 - 1e-9 <= y0 < y1 <= sy1 + 1e-9
            centre = image[int((y0 + y1) / 2 * SIZE), int((x0 + x1) / 2 * SIZE)]
            assert tuple(centre) == COLOURS[obj.colour]
            assert obj.phrase in scene.caption
        corner = tuple(image[0, 0]) if count < 4 else None
        assert corner is None or corner in {*BACKGROUNDS.values(), *COLOURS.values()}


def test_slots_lie_on_the_token_grid_and_layouts_validate():
    for box in SLOTS.values():
        assert all((v * SIZE) % TOKEN_PX == 0 for v in box)
    for seed in range(40):
        layout = make_scene(seed).layout()
        assert layout.width == layout.height == SIZE
        assert [r.phrase for r in layout.regions] == [o.phrase for o in make_scene(seed).objects]


def test_captions_use_only_known_words():
    words = {w.strip(",") for seed in range(300) for w in make_scene(seed).caption.split()}
    assert words <= set(TINY_WORDS)


def test_bad_object_count_is_refused():
    with pytest.raises(ValueError, match="num_objects"):
        make_scene(0, 5)


def test_reordered_caption_names_the_same_objects_in_another_order():
    for count in (2, 3, 4):
        for seed in range(5):
            scene = make_scene(seed, count)
            other = reorder_caption(scene, seed)
            assert other.objects == scene.objects and other.layout().regions == scene.layout().regions
            assert other.caption != scene.caption
            positions = [other.caption.index(obj.phrase) for obj in scene.objects]
            assert positions != sorted(positions)  # not the world's order
    with pytest.raises(ValueError, match="one object"):
        reorder_caption(make_scene(0, 1), 0)


def test_unplaced_caption_names_the_objects_without_positions_in_a_seeded_order():
    scene = make_scene(3, 4)
    orders = set()
    for seed in range(8):
        unplaced = unplace_caption(scene, seed)
        assert unplaced.objects == scene.objects and unplaced == unplace_caption(scene, seed)
        assert all(obj.phrase in unplaced.caption for obj in scene.objects)
        assert not any(w in unplaced.caption.split() for w in ("left", "right", "top", "bottom", "centre"))
        orders.add(tuple(sorted(scene.objects, key=lambda obj: unplaced.caption.index(obj.phrase))))
    assert len(orders) > 1  # the order says nothing about the positions
    with pytest.raises(ValueError, match="one object"):
        unplace_caption(make_scene(0, 1), 0)


def test_bench_scenes_share_objects_across_caption_styles():
    world, reordered, unplaced = (bench_scenes(4, 3, captions) for captions in CAPTIONS)
    assert [s.objects for s in world] == [s.objects for s in reordered] == [s.objects for s in unplaced]
    assert len({world[0].caption, reordered[0].caption, unplaced[0].caption}) == 3
    with pytest.raises(ValueError, match="captions must be one of"):
        bench_scenes(2, 1, "shuffled")
