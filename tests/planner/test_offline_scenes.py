"""The offline planner on scenes a person draws by habit: sky bands, held objects, small canvases, lists."""

import pytest

from planner.checks import HEAVY_OVERLAP_IOU, part_of_canvas, relation_holds
from planner.offline import plan_offline
from planner.parse import parse_prompt
from planner.repair import head_of, iou
from regional import Layout
from regional.raster import region_coverage


def _by_head(layout: Layout) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for region in layout.regions:
        out.setdefault(head_of(region.phrase), []).append(region.box)
    return out


def _size(box: tuple) -> tuple[float, float]:
    return box[2] - box[0], box[3] - box[1]


def _touch(a: tuple, b: tuple) -> bool:
    return min(a[2], b[2]) >= max(a[0], b[0]) and min(a[3], b[3]) >= max(a[1], b[1])


def test_sky_phenomena_span_the_top_band_and_leave_the_ground_row_its_size() -> None:
    layout = plan_offline(
        "a red fox on the left, a snowy cabin on the right, northern lights above", 1024, 768
    )
    boxes = _by_head(layout)
    (lights,), (fox,), (cabin,) = boxes["aurora"], boxes["fox"], boxes["cabin"]
    assert _size(lights)[0] >= 0.85 and (lights[1] + lights[3]) / 2 < 0.3
    assert _size(fox)[1] >= 0.25 and _size(fox)[0] >= 0.2  # a fox a person would draw, not a thumbnail
    assert relation_holds("left", fox, cabin)
    assert iou(lights, cabin) < HEAVY_OVERLAP_IOU


def _inside(box: tuple, where: str) -> float:
    """Share of ``box``'s area inside the named part of the canvas ("top left": that quadrant)."""
    x0, y0, x1, y1 = part_of_canvas(where)
    w = max(0.0, min(x1, box[2]) - max(x0, box[0]))
    h = max(0.0, min(y1, box[3]) - max(y0, box[1]))
    return w * h / (_size(box)[0] * _size(box)[1])


@pytest.mark.parametrize(
    ("prompt", "side", "parts"),
    [
        ("a cat at the top left, a dog at the top right, a ball at the bottom left and a cup at the bottom right",
         1024, ["top left", "top right", "bottom left", "bottom right"]),
        ("a large green square at the top left, a large yellow circle at the top right, a large purple square "
         "at the bottom left and a large blue circle at the bottom right on a black background", 128,
         ["top left", "top right", "bottom left", "bottom right"]),
        ("a cup in the top right corner and a book in the bottom right corner", 1024, ["top right", "bottom right"]),
        ("a large yellow circle at the top, a small purple triangle at the bottom left and a small red circle at "
         "the bottom right on a gray background", 128, ["top", "bottom left", "bottom right"]),
        ("a large red circle on the left, a small blue square at the top right and a large green triangle at the "
         "bottom right on a white background", 128, ["left", "top right", "bottom right"]),
        ("the sun in the top left corner and a house at the bottom right", 1024, ["top left", "bottom right"]),
    ],
)  # fmt: skip
def test_objects_at_corners_and_sides_keep_to_their_part_of_the_canvas(
    prompt: str, side: int, parts: list[str]
) -> None:
    layout = plan_offline(prompt, side, side)
    assert len(layout.regions) == len(parts)
    for region, where in zip(layout.regions, parts, strict=True):
        assert _inside(region.box, where) >= 0.9, (region.phrase, where, region.box)
        assert _size(region.box)[0] >= 0.08  # kept at a visible size, not squeezed into a strip
    sizes = {r.phrase: _size(r.box)[0] for r in layout.regions}
    for big in [p for p in sizes if "large" in p]:
        assert all(sizes[big] > sizes[small] for small in sizes if "small" in small)


def test_a_lone_sun_gets_its_own_row_above_the_ground_objects() -> None:
    layout = plan_offline("a camel walking in the desert under a blazing sun", 1024, 1024)
    boxes = _by_head(layout)
    (camel,), (sun,) = boxes["camel"], boxes["sun"]
    assert sun[3] <= camel[1] + 0.05 and _size(camel)[1] >= 0.3


def test_skyline_is_a_wide_band_and_the_moon_above_the_buildings_rides_high() -> None:
    layout = plan_offline("a city skyline at night, a full moon above the buildings", 1024, 768)
    boxes = _by_head(layout)
    assert "building" not in boxes  # "the buildings" are the skyline's
    (skyline,), (moon,) = boxes["skyline"], boxes["moon"]
    assert _size(skyline)[0] >= 0.85 and skyline[3] > 0.8
    assert moon[1] <= 0.1 and relation_holds("above", moon, skyline)


def test_a_part_of_the_setting_places_the_subject() -> None:
    scene = parse_prompt("a forest at dusk, an owl above the trees")
    assert [o.head for o in scene.objects] == ["owl"] and "top" in scene.objects[0].positions


@pytest.mark.parametrize(
    ("prompt", "held", "holder"),
    [
        ("a woman holding an umbrella", "umbrella", "woman"),
        ("a chef holding a plate of pasta", "plate", "chef"),
        ("a girl carrying a basket of flowers", "basket", "girl"),
        ("boy holding balloon", "balloon", "boy"),
    ],
)
def test_a_held_object_reaches_into_the_holders_hand(prompt: str, held: str, holder: str) -> None:
    boxes = _by_head(plan_offline(prompt, 1024, 1024))
    (thing,), (person,) = boxes[held], boxes[holder]
    assert _touch(thing, person)  # adjoins or overlaps, not a column away
    assert person[1] < thing[3] and thing[1] < person[1] + 0.75 * (person[3] - person[1])  # upper body
    assert iou(thing, person) < HEAVY_OVERLAP_IOU


def test_holding_is_a_relation_and_the_holder_keeps_the_words() -> None:
    scene = parse_prompt("a man holding a guitar on a stage")
    assert [
        (r.kind, scene.objects[r.subject].head, scene.objects[r.target].head) for r in scene.relations
    ] == [("hold", "guitar", "man")]
    assert scene.objects[0].prompt == "a man holding a guitar"


def test_an_umbrella_is_held_aloft_and_a_plate_at_hand_height() -> None:
    umbrella = _by_head(plan_offline("a woman holding an umbrella", 1024, 1024))
    plate = _by_head(plan_offline("a woman holding a plate", 1024, 1024))
    assert umbrella["umbrella"][0][3] < plate["plate"][0][3]


@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 64), (64, 128)])
def test_stacked_objects_on_a_tiny_canvas_stay_apart_and_keep_a_token(width: int, height: int) -> None:
    layout = plan_offline("a blue square above a red triangle", width, height)
    square, triangle = (r.box for r in layout.regions)
    assert square[3] <= triangle[1] + 1e-6  # split at a token line, no shared area
    assert relation_holds("above", square, triangle)
    assert all(region_coverage(r, width, height).max() > 0.99 for r in layout.regions)


def test_side_by_side_objects_on_a_tiny_canvas_stay_apart() -> None:
    layout = plan_offline("a red circle left of a green circle", 64, 64)
    left, right = (r.box for r in layout.regions)
    assert left[2] <= right[0] + 1e-6 and relation_holds("left", left, right)


def test_a_small_rider_keeps_its_size_and_sits_on_the_back() -> None:
    boxes = _by_head(plan_offline("a bird sitting on a horse's back", 1024, 1024))
    (bird,), (horse,) = boxes["bird"], boxes["horse"]
    assert _size(bird)[1] < 0.5 * _size(horse)[1]
    assert bird[3] <= horse[1] + 0.5 * _size(horse)[1] and relation_holds("on", bird, horse)


def test_with_phrase_owner_is_what_a_later_place_locates() -> None:
    scene = parse_prompt("a birthday cake with candles on a table")
    pairs = {(scene.objects[r.subject].head, r.kind, scene.objects[r.target].head) for r in scene.relations}
    assert ("cake", "on", "table") in pairs and ("candle", "with", "cake") in pairs
    boxes = _by_head(plan_offline("a birthday cake with candles on a table", 1024, 1024))
    assert all(relation_holds("on", c, boxes["cake"][0]) for c in boxes["candle"])


def test_a_list_after_with_belongs_to_the_owner_when_smaller() -> None:
    scene = parse_prompt("a desk with a monitor, a keyboard, a mug and a chair")
    on_desk = {scene.objects[r.subject].head for r in scene.relations if r.kind == "with"}
    assert on_desk == {"monitor", "keyboard", "mug"}  # a chair is no desk-top thing


def test_and_after_a_relation_target_starts_a_new_subject() -> None:
    scene = parse_prompt("a lamp on a nightstand and a painting above the bed")
    pairs = {(scene.objects[r.subject].head, r.kind, scene.objects[r.target].head) for r in scene.relations}
    assert pairs == {("lamp", "on", "nightstand"), ("painting", "above", "bed")}


def test_a_lamp_on_a_nightstand_is_a_table_lamp() -> None:
    boxes = _by_head(plan_offline("a lamp on a nightstand", 1024, 1024))
    (lamp,), (stand,) = boxes["lamp"], boxes["nightstand"]
    assert _size(lamp)[1] <= 1.25 * _size(stand)[1]


@pytest.mark.parametrize(
    ("prompt", "phrases"),
    [
        ("cat on the left, dog on the right", ["cat", "dog"]),
        ("red car, blue truck, green bus", ["red car", "blue truck", "green bus"]),
        ("man with dog in park", ["man", "dog"]),
        ("girl holding umbrella", ["girl", "umbrella"]),
    ],
)
def test_terse_prompts_keep_their_own_words(prompt: str, phrases: list[str]) -> None:
    assert [r.phrase for r in plan_offline(prompt, 1024, 1024).regions] == phrases


def test_fresh_eval_checks_report_real_problems() -> None:
    from planner.eval import FRESH_PATH, extra_problems, load_cases

    assert len(load_cases(FRESH_PATH)) >= 60
    layout = plan_offline("a woman holding an umbrella", 1024, 1024)
    assert extra_problems(layout, {"touch": [["umbrella", "woman"]], "min_width": {"woman": 0.1}}) == []
    wrong = {"apart": [["umbrella", "woman"]], "min_width": {"woman": 0.9}}
    assert sorted(p.category for p in extra_problems(layout, wrong)) == ["overlap", "size"]


def test_the_within_check_measures_how_much_of_a_box_lies_in_its_part() -> None:
    from planner.eval import extra_problems

    layout = Layout(
        width=1024,
        height=1024,
        base_prompt="a cup and a book",
        regions=[
            {
                "phrase": "a cup",
                "prompt": "a cup",
                "box": [0.45, 0.05, 0.6, 0.2],
            },  # a third of it left of the middle
            {"phrase": "a book", "prompt": "a book", "box": [0.6, 0.6, 0.9, 0.9]},
        ],
    )
    problems = extra_problems(layout, {"within": {"cup": "top right", "book": "bottom right"}})
    assert [p.message for p in problems] == ['"cup" should lie in the top right (67% does)']


def test_a_crowded_street_back_row_is_not_hidden_behind_the_front_row() -> None:
    layout = plan_offline("a street with a bus, two cars, a bicycle, a lamppost and a person", 1024, 1024)
    boxes = [r.box for r in layout.regions]
    assert all(iou(a, b) < HEAVY_OVERLAP_IOU for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_wading_birds_stand_on_the_ground_and_a_paddock_is_a_setting() -> None:
    flamingos = _by_head(plan_offline("two pink flamingos beside a blue pool", 1024, 1024))["flamingo"]
    assert all(box[3] > 0.9 and _size(box)[1] > _size(box)[0] for box in flamingos)
    paddock = plan_offline("two brown horses and a white pony in a paddock", 1024, 1024)
    assert "paddock" in (paddock.background_prompt or "") and "paddock" not in _by_head(paddock)
