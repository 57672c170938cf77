"""The offline planner: objects, counts, attributes, negation, relations, sizes, aspect ratios, overlap."""

import pytest

from planner.checks import HEAVY_OVERLAP_IOU, Expectation, check, expectations_from_scene, relation_holds
from planner.eval import FRESH_PATH, HELDOUT_PATH, PROMPTS_PATH, load_cases
from planner.offline import plan_offline
from planner.parse import parse_prompt
from planner.repair import head_of, iou
from regional import Layout


def _by_head(layout: Layout) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for region in layout.regions:
        out.setdefault(head_of(region.phrase), []).append(region.box)
    return out


@pytest.mark.parametrize(
    ("prompt", "counts"),
    [
        ("three cups", {"cup": 3}),
        ("a dog", {"dog": 1}),
        ("7 balloons in the sky", {"balloon": 7}),
        ("two cats and five apples", {"cat": 2, "apple": 5}),
        ("a pair of shoes", {"shoe": 2}),
        ("a dozen eggs", {"egg": 12}),
        ("four wolves and a fox", {"wolf": 4, "fox": 1}),
        ("two children, three women and a man", {"child": 2, "woman": 3, "man": 1}),
        ("a fish and two sheep", {"fish": 1, "sheep": 2}),
    ],
)
def test_counts_become_one_region_per_instance(prompt: str, counts: dict[str, int]) -> None:
    layout = plan_offline(prompt, 1024, 1024)
    assert {h: len(b) for h, b in _by_head(layout).items()} == counts
    assert layout.planner == "offline"


def test_phrases_keep_article_and_attributes() -> None:
    layout = plan_offline("a red car and the big blue bicycle, three small green apples", 1024, 768)
    assert [r.phrase for r in layout.regions] == ["a red car", "the big blue bicycle"] + [
        "a small green apple"
    ] * 3


def test_negation_goes_to_negative_prompt_and_never_to_regions() -> None:
    layout = plan_offline("a park with a bench, without people or dogs", 1024, 1024)
    assert [r.phrase for r in layout.regions] == ["a bench"]
    assert layout.negative_prompt == "people, dogs"
    assert "without" not in layout.base_prompt and "dogs" not in layout.base_prompt


def test_setting_is_the_background_not_a_region() -> None:
    layout = plan_offline("a cat sitting on a sofa in a living room", 1024, 1024)
    assert sorted(_by_head(layout)) == ["cat", "sofa"]
    assert layout.background_prompt == "a living room"


@pytest.mark.parametrize(
    ("prompt", "subject", "kind", "target"),
    [
        ("a cat to the left of a dog", "cat", "left", "dog"),
        ("a cat on the left side of a dog", "cat", "left", "dog"),
        ("a dog to the right of a car", "dog", "right", "car"),
        ("a bird above a house", "bird", "above", "house"),
        ("a clock over a fireplace", "clock", "above", "fireplace"),
        ("a cat under a table", "cat", "below", "table"),
        ("a vase on top of a table", "vase", "on", "table"),
        ("an elephant in front of a tree", "elephant", "front", "tree"),
        ("a tree behind a horse", "tree", "behind", "horse"),
        ("a car beneath a kite", "car", "below", "kite"),
        ("a man riding a horse", "man", "on", "horse"),
        ("a boy flying a kite", "kite", "above", "boy"),
        ("on the left a lamp, on the right a chair", "lamp", "left", "chair"),
        ("a cat at the top and a fish at the bottom", "cat", "above", "fish"),
    ],
)
def test_stated_relations_hold_between_box_centres(prompt: str, subject: str, kind: str, target: str) -> None:
    boxes = _by_head(plan_offline(prompt, 1024, 1024))
    assert relation_holds(kind, boxes[subject][0], boxes[target][0]), boxes


def test_between_puts_the_subject_between_the_two() -> None:
    boxes = _by_head(plan_offline("a cup between a plate and a bowl", 1024, 1024))
    assert relation_holds("between", boxes["cup"][0], boxes["plate"][0], boxes["bowl"][0])


def test_groups_keep_their_relation_instance_by_instance() -> None:
    boxes = _by_head(plan_offline("two cats to the left of three dogs", 1024, 1024))
    assert max(b[2] for b in boxes["cat"]) <= min(b[0] for b in boxes["dog"])


def test_the_woman_refers_back_instead_of_adding_a_region() -> None:
    layout = plan_offline("a man to the right of a woman, a bird above the woman", 1024, 1024)
    boxes = _by_head(layout)
    assert len(layout.regions) == 3
    assert relation_holds("above", boxes["bird"][0], boxes["woman"][0])
    assert relation_holds("right", boxes["man"][0], boxes["woman"][0])


def _pixel_aspect(box: tuple, width: int, height: int) -> float:
    return (box[2] - box[0]) * width / ((box[3] - box[1]) * height)


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1344, 768), (768, 1344)])
def test_sizes_and_aspect_ratios_follow_the_object_kind_on_any_canvas(width: int, height: int) -> None:
    boxes = _by_head(plan_offline("a man, a car and a cup", width, height))
    assert _pixel_aspect(boxes["man"][0], width, height) < 0.6  # people are tall
    assert _pixel_aspect(boxes["car"][0], width, height) > 1.5  # cars are wide
    area = {h: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]) for h, b in boxes.items()}
    assert area["cup"] < area["man"] and area["cup"] < area["car"]


def test_birds_fly_high_and_cars_stand_low() -> None:
    boxes = _by_head(plan_offline("a bird and a car", 1024, 1024))
    assert boxes["bird"][0][3] < 0.5 < boxes["car"][0][1]


@pytest.mark.parametrize(
    "prompt",
    [
        "five apples and four oranges",
        "a cat, a dog, a horse and a cow",
        "three people next to two cars",
        "twelve eggs",
        "a lamp, a chair, a table, a sofa, a clock and a vase",
    ],
)
def test_boxes_avoid_heavy_overlap(prompt: str) -> None:
    boxes = [r.box for r in plan_offline(prompt, 1024, 1024).regions]
    assert all(iou(a, b) < HEAVY_OVERLAP_IOU for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_support_relations_may_overlap() -> None:
    boxes = _by_head(plan_offline("a cat on a sofa", 1024, 1024))
    cat, sofa = boxes["cat"][0], boxes["sofa"][0]
    assert cat[3] > sofa[1]  # the cat sits in the sofa, not floating above it
    assert sofa[0] <= cat[0] and cat[2] <= sofa[2]


def test_cups_on_a_table_fit_on_the_table() -> None:
    boxes = _by_head(plan_offline("four cups on a table", 1024, 1024))
    table = boxes["table"][0]
    assert all(table[0] <= b[0] and b[2] <= table[2] and b[1] < table[1] for b in boxes["cup"])


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "   ",
        "a",
        "the",
        "without anything",
        "!!!",
        "a photo",
        "in the background",
        "12345 67890",
        "a " * 300,
        "cats " * 40,
        "on the left",
        "a cat on",
        "and and and",
        "a very very very long ago",
    ],
)
def test_odd_prompts_still_give_a_valid_layout(prompt: str) -> None:
    layout = plan_offline(prompt or "x", 512, 512)
    assert isinstance(layout, Layout) and len(layout.regions) <= 32


def test_is_deterministic() -> None:
    prompt = "two dogs to the left of a red car, birds above, without people"
    assert plan_offline(prompt, 1024, 768) == plan_offline(prompt, 1024, 768)


def test_parse_records_relations_and_negations() -> None:
    scene = parse_prompt("a red car to the left of a tree, no birds")
    assert [(o.phrase, o.count) for o in scene.objects] == [("a red car", 1), ("a tree", 1)]
    assert [(r.subject, r.kind, r.target) for r in scene.relations] == [(0, "left", 1)]
    assert scene.negative_heads == {"bird"}


def _centre_y(box: tuple) -> float:
    return (box[1] + box[3]) / 2


def test_dangling_position_places_sky_phenomenon_in_a_wide_top_box() -> None:
    layout = plan_offline(
        "a red fox on the left, a snowy cabin on the right, northern lights above", 1024, 1024
    )
    boxes = _by_head(layout)
    assert [r.phrase for r in layout.regions] == ["a red fox", "a snowy cabin", "northern lights"]
    (lights,) = boxes["aurora"]
    assert _centre_y(lights) < 0.35 and lights[2] - lights[0] > lights[3] - lights[1]
    assert relation_holds("left", boxes["fox"][0], boxes["cabin"][0])


def test_non_object_ends_a_relation_so_the_rainbow_stays_in_the_sky() -> None:
    layout = plan_offline(
        "a wooden cabin by a lake, pine trees on both sides, a rainbow in the sky", 1024, 1024
    )
    (rainbow,) = _by_head(layout)["rainbow"]
    assert _centre_y(rainbow) < 0.35
    assert parse_prompt("pine trees on both sides, a rainbow").relations == []


def test_rider_sits_on_the_upper_part_of_a_larger_mount_and_the_surface_is_the_setting() -> None:
    layout = plan_offline("an astronaut riding a horse on the moon, earth in the sky", 1024, 1024)
    boxes = _by_head(layout)
    assert "moon" not in boxes and layout.background_prompt == "the moon"
    assert [r.phrase for r in layout.regions] == ["an astronaut", "a horse", "earth"]
    (rider,), (mount,) = boxes["astronaut"], boxes["horse"]

    def area(b: tuple) -> float:
        return (b[2] - b[0]) * (b[3] - b[1])

    assert area(mount) > 1.5 * area(rider)
    assert rider[3] > mount[1] and _centre_y(rider) < _centre_y(mount)  # overlapping, seated on top
    assert _centre_y(boxes["earth"][0]) < 0.35


def test_bare_nouns_get_no_invented_article() -> None:
    assert [r.phrase for r in plan_offline("earth and a moon", 1024, 1024).regions] == ["earth", "a moon"]


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1536, 512), (768, 1024)])
def test_tall_animals_in_a_crowd_stand_in_depth_rows_and_use_the_height(width: int, height: int) -> None:
    layout = plan_offline("a photo of four giraffes", width, height)
    boxes = layout.regions
    assert len(boxes) == 4
    for region in boxes:
        x0, y0, x1, y1 = region.box
        assert (y1 - y0) * height > (x1 - x0) * width  # taller than wide in pixels
    if width == height:
        assert min(r.box[3] - r.box[1] for r in boxes) > 0.4
    flat = [r.box for r in boxes]
    assert all(iou(a, b) < HEAVY_OVERLAP_IOU for i, a in enumerate(flat) for b in flat[i + 1 :])


def test_crowded_street_gets_a_back_row_instead_of_a_thin_strip() -> None:
    layout = plan_offline("two red cars and a yellow bus on a city street", 1024, 1024)
    boxes = _by_head(layout)
    assert len(boxes["car"]) == 2 and len(boxes["bus"]) == 1
    assert min(b[3] - b[1] for bs in boxes.values() for b in bs) > 0.18
    flat = [b for bs in boxes.values() for b in bs]
    assert all(iou(a, b) < HEAVY_OVERLAP_IOU for i, a in enumerate(flat) for b in flat[i + 1 :])
    assert layout.background_prompt == "a city street"


def test_next_to_keeps_a_single_row() -> None:
    boxes = _by_head(plan_offline("three people next to two cars", 1024, 1024))
    assert max(b[3] for b in boxes["person"]) == pytest.approx(max(b[3] for b in boxes["car"]), abs=0.01)


@pytest.mark.parametrize(
    ("prompt", "negative"), [("a smoke-free kitchen", "smoke"), ("a cloud-free sky over a lake", "cloud")]
)
def test_free_of_adjective_is_a_negation(prompt: str, negative: str) -> None:
    layout = plan_offline(prompt, 1024, 1024)
    assert layout.negative_prompt == negative
    assert negative not in _by_head(layout) and "-free" not in layout.base_prompt


@pytest.mark.parametrize(
    ("prompt", "background"),
    [
        ("a girl riding a bicycle down a street", "a street"),
        ("a clock tower in the middle of a town square", "a town square"),
    ],
)
def test_settings_after_motion_and_middle_of_go_to_the_background(prompt: str, background: str) -> None:
    layout = plan_offline(prompt, 1024, 1024)
    assert layout.background_prompt == background
    assert "street" not in _by_head(layout) and "square" not in _by_head(layout)


def test_plurals_ending_in_is_and_panoramas() -> None:
    assert {h: len(b) for h, b in _by_head(plan_offline("a photo of three skis", 1024, 1024)).items()} == {
        "ski": 3
    }
    layout = plan_offline("a panorama of three sailboats on the sea", 1536, 512)
    assert (
        len(_by_head(layout)["sailboat"]) == 3 and layout.background_prompt == "the sea, panorama"
    )  # the medium too


def test_tall_buildings_use_a_tall_canvas() -> None:
    (region,) = plan_offline("a skyscraper", 512, 1536).regions
    x0, y0, x1, y1 = region.box
    assert y1 - y0 > 0.5 and (y1 - y0) * 1536 > 2 * (x1 - x0) * 512


@pytest.mark.parametrize(("width", "height"), [(256, 256), (1536, 512), (512, 1536)])
@pytest.mark.parametrize(
    "prompt", ["a dozen eggs in a carton", "ten birds flying over a lake", "twelve cupcakes"]
)
def test_every_box_covers_a_whole_token(prompt: str, width: int, height: int) -> None:
    from regional.raster import region_coverage

    layout = plan_offline(prompt, width, height)
    assert all(region_coverage(r, width, height).max() > 0.99 for r in layout.regions)


def test_heldout_eval_checks_report_real_problems() -> None:
    from planner.eval import HELDOUT_PATH, extra_problems, load_cases

    cases = load_cases(HELDOUT_PATH)
    assert len(cases) >= 100 and all(c.prompt for c in cases)
    layout = plan_offline("a photo of four giraffes", 1024, 1024)
    assert extra_problems(layout, {"tall": ["giraffe"], "top": []}) == []
    assert [p.category for p in extra_problems(layout, {"wide": ["giraffe"], "negative": ["cat"]})] == [
        "negative",
        *["shape"] * 4,
    ]


def test_geometric_shapes_are_objects_and_a_town_square_is_a_setting():
    from planner import plan

    shapes = plan("a large red circle on the left and a large blue square on the right", width=64, height=64)
    assert [r.phrase for r in shapes.regions] == ["a large red circle", "a large blue square"]
    left, right = (r.box for r in shapes.regions)
    assert (left[0] + left[2]) / 2 < (right[0] + right[2]) / 2
    town = plan("a town square with a fountain", width=512, height=512)
    assert [r.phrase for r in town.regions] == ["a fountain"]
    assert "town square" in (town.background_prompt or "")


@pytest.mark.parametrize("path", [PROMPTS_PATH, HELDOUT_PATH, FRESH_PATH], ids=lambda p: p.name)
def test_offline_layouts_pass_the_checks_an_llm_layout_must_pass(path) -> None:
    """What the parser reads from a prompt (counts, exclusions, relations, stated sides) holds in its own
    layout, so the fallback never gives what an LLM would be rejected for."""
    failures = {}
    for case in load_cases(path):
        layout = plan_offline(case.prompt, case.width or 1024, case.height or 1024)
        sure, likely = expectations_from_scene(parse_prompt(case.prompt))
        everything = Expectation(
            counts=sure.counts | likely.counts,
            absent=sure.absent,
            relations=sure.relations + likely.relations,
            sides=sure.sides | likely.sides,
        )
        problems = check(layout, everything)
        if problems:
            failures[case.prompt] = [p.message for p in problems]
    assert not failures


@pytest.mark.parametrize(("width", "height"), [(32, 32), (32, 64), (64, 32), (48, 48), (32, 128)])
@pytest.mark.parametrize(
    "prompt",
    [
        "a cat and a dog",
        "a red circle on the left and a blue square on the right",
        "three apples on a table next to a vase, a cat under the table and a lamp",
    ],
)
def test_the_smallest_canvases_get_boxes_inside_them(prompt: str, width: int, height: int) -> None:
    """Two tokens across: the boxes split the side between them instead of leaving the canvas."""
    layout = plan_offline(prompt, width, height)
    assert layout.regions
    for region in layout.regions:
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, region.box
