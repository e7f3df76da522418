"""Printed lines: rules of lined and squared paper, and boxes drawn around digits on forms.

A digit touching a rule is joined to it and to every other digit on it; a box read with its digit
looks like a 0 or an 8. rules.py erases both; these tests check the reading and that digits survive.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_reader import reader  # noqa: F401 (fixture)

from edge_digits.runtime import rules, segment


def _stats(mask: np.ndarray) -> np.ndarray:
    return cv2.connectedComponentsWithStats(mask, connectivity=8)[2]


def _form(digits: np.ndarray, rng: np.random.Generator, comb: bool = False) -> np.ndarray:
    """A row of 60x70 boxes on grey paper, one MNIST digit (blue ink, 56 px) in each; some touch their box.

    comb=True draws the boxes side by side, sharing their sides, as a postcode field does.
    """
    count, pitch = len(digits), 64 if comb else 72
    page = np.clip(rng.normal(215, 6, (150, 40 + pitch * count, 3)), 0, 255).astype(np.uint8)
    ink = np.array([140, 60, 30], np.float32)  # blue ballpoint
    for index, digit in enumerate(digits):
        left, top = 20 + pitch * index, 40
        cv2.rectangle(page, (left, top), (left + (pitch if comb else 60), top + 70), (70, 60, 60), 2)
        glyph = cv2.resize(digit, (56, 56), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        drop = int(rng.integers(0, 12))  # up to 11 px lower: the bigger drops touch the box's bottom
        window = np.s_[top + 4 + drop:top + 60 + drop, left + 3:left + 59]
        page[window] = (page[window].astype(np.float32) * (1 - glyph[..., None]) + ink * glyph[..., None]).astype(np.uint8)
    return page


def test_rules_of_lined_and_squared_paper_do_not_hide_digits(reader, mnist_path, monkeypatch):  # noqa: F811
    from edge_digits.measure.paper import on_paper
    from edge_digits.measure.scenes import make_suite, scene_accuracy

    suite = make_suite(30, seed=5, data_path=mnist_path)
    lined = [on_paper(scene, "lined", np.random.default_rng([5, index])) for index, scene in enumerate(suite)]
    squared = [on_paper(scene, "squared", np.random.default_rng([5, index])) for index, scene in enumerate(suite)]
    lined_accuracy = scene_accuracy(lined, reader)["accuracy"]
    squared_accuracy = scene_accuracy(squared, reader)["accuracy"]
    monkeypatch.setattr(rules, "RULE_FAMILY", 10**6)  # no family is ever found: the rules stay
    kept = scene_accuracy(lined, reader)["accuracy"]
    assert lined_accuracy >= 0.90 and squared_accuracy >= 0.90, (lined_accuracy, squared_accuracy)
    assert lined_accuracy >= kept + 0.2, (lined_accuracy, kept)  # the erasing is what reads them
    monkeypatch.undo()
    monkeypatch.setattr(segment, "FAINT_RULES", 1.0)  # rules looked for at the ink threshold only
    unsearched = scene_accuracy(squared, reader)["accuracy"]
    # downscaled to the working scale, a 1-2 px grid fades and breaks up at the ink threshold
    assert squared_accuracy >= unsearched + 0.1, (squared_accuracy, unsearched)


def test_score_reads_scenes_on_lined_paper_from_the_command_line(mnist_path):
    import json

    from conftest import run_cli

    result = run_cli("score", "--scenes", "12", "--paper", "lined", "--json", env={"EDGE_DIGITS_MNIST": str(mnist_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["scenes"]
    assert report["paper"] == "lined" and report["scenes"] == 12 and report["accuracy"] >= 0.85, report
    bad = run_cli("score", "--scenes", "2", "--paper", "papyrus")
    assert bad.returncode != 0 and "papyrus" in bad.stderr and "Traceback" not in bad.stderr


def test_on_paper_draws_rules_under_the_ink_and_rejects_unknown_papers(mnist_path):
    from edge_digits.measure.paper import on_paper
    from edge_digits.measure.scenes import make_suite

    scene = make_suite(1, seed=3, data_path=mnist_path)[0]
    lined = on_paper(scene, "lined", np.random.default_rng(0))
    assert lined.text == scene.text and lined.image.shape == scene.image.shape
    assert (lined.image <= scene.image).all() and (lined.image < scene.image).mean() > 0.01  # only darkens, visibly
    assert on_paper(scene, "plain", np.random.default_rng(0)) is scene
    with pytest.raises(ValueError):
        on_paper(scene, "papyrus", np.random.default_rng(0))


@pytest.mark.parametrize("comb", [False, True], ids=["separate-boxes", "comb"])
def test_digits_in_form_boxes_are_read_without_their_boxes(reader, mnist, comb):  # noqa: F811
    rng = np.random.default_rng(0)
    exact = 0
    for form in range(12):
        picks = rng.choice(len(mnist.x_test), 6, replace=False)
        text = reader.read(_form(mnist.x_test[picks], rng, comb)).text
        exact += text == "".join(str(mnist.y_test[index]) for index in picks)
    assert exact >= 9, f"{exact}/12 forms read exactly"


def test_erase_rules_keeps_strokes_that_cross_a_rule_and_leaves_plain_pages_alone():
    page = np.zeros((200, 300), np.uint8)
    cv2.line(page, (150, 20), (150, 180), 255, 3)  # a stroke across all the rules
    assert rules.erase_rules(page, _stats(page)) is page  # no rules: the same array back
    for y in (40, 80, 120, 160):
        cv2.line(page, (0, y), (299, y), 255, 1)
    erased = rules.erase_rules(page, _stats(page))
    assert erased[80, 20] == 0 and erased[80, 280] == 0  # the rules are gone ...
    assert (erased[20:181, 149:152] > 0).all()  # ... the crossing stroke is whole


def test_a_dense_grid_is_erased_and_a_digit_on_it_stays():
    """Squared paper at the working scale: rules 14 px apart, so the rows RULE_GAP away in the 4x
    smaller copy are already near the next rule (only the emptiest rows beside one must be empty)."""
    page = np.zeros((240, 320), np.uint8)
    for offset in range(5, 320, 14):
        cv2.line(page, (offset, 0), (offset, 239), 255, 1)
        cv2.line(page, (0, offset), (319, offset), 255, 1)
    zero = cv2.ellipse(np.zeros_like(page), (160, 120), (12, 20), 0, 0, 360, 255, 4)  # written over the grid
    ink = np.where(zero > 0, 200, np.where(page > 0, 60, 0)).astype(np.uint8)  # the pen darker than the grid
    page |= zero
    erased = rules.erase_rules(page, _stats(page), ink)
    assert erased[5, 100:140].sum() == 0 and erased[40:80, 5].sum() == 0  # grid lines away from it go
    assert (erased[zero > 0] > 0).mean() > 0.9  # the 0 stays


def test_thick_long_strokes_of_a_close_up_are_not_rules():
    close_up = np.zeros((300, 300), np.uint8)
    for y in (40, 150, 260):  # a squared-off 3 or 8: three long bars, but as thick as a pen at this size
        cv2.line(close_up, (40, y), (260, y), 255, 14)
    assert rules.erase_rules(close_up, _stats(close_up)) is close_up


def test_a_box_is_erased_and_a_handwritten_zero_is_not():
    mask = np.zeros((100, 100), np.uint8)
    cv2.ellipse(mask, (50, 50), (25, 40), 0, 0, 360, 255, 3)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    assert rules.erase_frames(mask, labels, stats) is None
    boxed = mask.copy()
    cv2.rectangle(boxed, (5, 2), (95, 97), 255, 2)
    cv2.line(boxed, (50, 10), (50, 97), 255, 3)  # a stroke touching the box joins the two
    count, labels, stats, _ = cv2.connectedComponentsWithStats(boxed, connectivity=8)
    erased = rules.erase_frames(boxed, labels, stats)
    assert erased is not None and erased[2, 30] == 0 and erased[50, 5] == 0
    assert erased[50, 25] > 0  # the 0 inside stays


def test_a_pen_stroke_lying_on_a_rule_is_kept():
    """Printed rules are fainter than pen ink: rule pixels twice the rules' median strength stay."""
    ink = np.zeros((200, 300), np.uint8)
    for row in range(20, 200, 40):
        ink[row:row + 2] = 60  # faint printed rules, 2 px thick
    ink[100:102, 120:180] = 200  # a pen stroke drawn along the rule at row 100
    ink[70:100, 150:153] = 200  # and the stroke it belongs to, above the rule
    mask = np.where(ink > 30, 255, 0).astype(np.uint8)
    erased_blind = rules.erase_rules(mask, _stats(mask))
    erased = rules.erase_rules(mask, _stats(mask), ink)
    assert not erased_blind[20:22].any() and not erased[20:22].any()  # the rules go either way
    assert not erased_blind[100:102, 120:150].any()  # without the ink, the stroke on the rule went too
    assert erased[100:102, 120:180].all() and erased[70:100, 150:153].all()
    assert not erased[100:102, :110].any() and not erased[100:102, 190:].any()  # the rule beside it goes
