"""The field model's build tier: synthetic strings, the CTC model, and the field export set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_digits.build.field_strings import MAX_DIGITS, field_batch
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.field_strip import FIELD_HEIGHT, FIELD_WIDTH
from tests.conftest import EXPORT_DIR


def test_field_batch_is_seeded_and_its_targets_match_its_lengths(mnist):
    strips, targets, lengths = field_batch(mnist.x_train[:2000], mnist.y_train[:2000], 64, seed=3)
    again, _, _ = field_batch(mnist.x_train[:2000], mnist.y_train[:2000], 64, seed=3)
    assert strips.shape == (64, FIELD_HEIGHT, FIELD_WIDTH, 1) and strips.dtype == np.uint8
    np.testing.assert_array_equal(strips, again)
    assert lengths.min() >= 1 and lengths.max() <= MAX_DIGITS
    for row, length in zip(targets, lengths):
        assert (row[:length] >= 0).all() and (row[:length] <= 9).all() and (row[length:] == -1).all()
    assert all(strip.max() > 100 for strip in strips)  # every strip holds ink


def test_field_batch_draws_only_the_digits_it_is_given(mnist):
    sevens = mnist.y_train == 7
    _, targets, lengths = field_batch(mnist.x_train[sevens][:300], mnist.y_train[sevens][:300], 20, seed=0)
    assert all(set(row[:length].tolist()) == {7} for row, length in zip(targets, lengths))


def test_ctc_loss_is_lower_for_the_right_string():
    keras = pytest.importorskip("keras")
    from edge_digits.build.field_model import COLUMNS, ctc_loss
    from edge_digits.runtime.field_strip import BLANK

    probabilities = np.full((1, COLUMNS, BLANK + 1), 0.01, np.float32)
    best = [BLANK] * COLUMNS
    best[4], best[8], best[12] = 4, 2, 2  # reads "422"
    probabilities[0, np.arange(COLUMNS), best] = 0.9
    right = np.array([[4, 2, 2, -1]], np.int32)
    wrong = np.array([[4, 2, -1, -1]], np.int32)
    assert float(keras.ops.convert_to_numpy(ctc_loss(right, probabilities))[0]) < \
        float(keras.ops.convert_to_numpy(ctc_loss(wrong, probabilities))[0])


@pytest.fixture(scope="module")
def field_set(tmp_path_factory, mnist_path):
    """An export of an untrained field model (weights seeded): enough to test the set, not the readings."""
    keras = pytest.importorskip("keras")
    from edge_digits.build.field_export import export_field
    from edge_digits.build.field_model import build_field_model
    from edge_digits.measure.fields import string_scores

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("field")
    build_field_model().save(root / "field.keras")
    manifest, rows = export_field(root / "field.keras", root / "export", data_path=str(mnist_path), calibration=50,
                                  parity_strings=40, scorer=string_scores, keep_failing=True)
    return root / "export" / "field", manifest, rows


def test_export_field_writes_every_format_with_its_parity_row(field_set):
    directory, manifest, rows = field_set
    files = sorted(path.name for path in directory.iterdir())
    assert files == sorted(["field.keras", "field_fp32.onnx", "field_int8.onnx", "field_fp32.tflite", "field_int8.tflite",
                            "manifest.json", "parity.json"])
    assert [row.file for row in rows] == [record["file"] for record in manifest["artifacts"]]
    fp32 = [row for row in rows if row.precision == "fp32" and row.file != "field.keras"]
    assert all(row.max_abs_dp < 1e-4 for row in fp32)
    assert json.loads((directory / "manifest.json").read_text())["preprocessing"]["shape"] == [FIELD_HEIGHT, FIELD_WIDTH, 1]
    for record in manifest["artifacts"][1:]:
        assert record["inputs"][0]["shape"][1:] == [FIELD_HEIGHT, FIELD_WIDTH, 1]


def test_field_reader_loads_the_set_and_refuses_a_changed_file(field_set, tmp_path):
    import shutil

    from edge_digits.runtime.field_reader import FieldReader

    directory, _, _ = field_set
    for backend in ("onnx", "tflite"):
        reader = FieldReader(directory.parent, backend=backend)
        assert reader.path.parent == directory
        reading = reader.read(np.full((40, 100), 200, np.uint8))
        assert isinstance(reading.text, str)
    copy = tmp_path / "field"
    shutil.copytree(directory, copy)
    with open(copy / "field_int8.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(EdgeDigitsError, match="does not match"):
        FieldReader(copy)


def test_export_field_refuses_the_digit_model(tmp_path, mnist_path):
    pytest.importorskip("keras")
    from edge_digits.build.field_export import export_field
    from edge_digits.measure.fields import string_scores

    with pytest.raises(EdgeDigitsError, match=r"expected \(32, 128, 1\)"):
        export_field(EXPORT_DIR / "digits.keras", tmp_path, data_path=str(mnist_path), scorer=string_scores)
    assert not (tmp_path / "field").exists()


def test_read_field_and_score_fields_from_the_command_line(field_set, tmp_path):
    import cv2

    from tests.conftest import run_cli

    directory, _, _ = field_set
    for index in range(3):
        image = np.full((50, 160), 210, np.uint8)
        cv2.putText(image, f"{index}57", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
        cv2.imwrite(str(tmp_path / f"f{index}.png"), image)
    (tmp_path / "labels.json").write_text(json.dumps([{"file": f"f{index}.png", "digits": f"{index}57"} for index in range(3)]))
    (tmp_path / "other.json").write_text(json.dumps({f"f{index}.png": {"text": f"{index}57", "seconds": 0.01}
                                                     for index in range(3)}))
    read = run_cli("read", "--field", "--field-model", str(directory), "--json", str(tmp_path / "f1.png"))
    assert read.returncode == 0, read.stderr
    (reading,) = json.loads(read.stdout)
    assert set(reading) == {"image", "text", "confidence", "digits"}
    score = run_cli("score", "--fields", str(tmp_path), "--field-model", str(directory), "--model", str(EXPORT_DIR),
                    "--readings", f"other={tmp_path / 'other.json'}")
    assert score.returncode == 0, score.stderr
    names = [line[:28].strip() for line in score.stdout.splitlines()[2:]]
    assert names == ["page reader", "field onnx fp32", "field onnx int8", "field tflite fp32", "field tflite int8", "other"]
    assert score.stdout.splitlines()[-1].split()[1:4] == ["3", "100.00%", "100.00%"]  # the recorded readings, scored
    missing = run_cli("score", "--fields", str(tmp_path), "--field-model", str(directory), "--readings", "other=/nonexistent.json")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "cannot read --readings" in missing.stderr


def test_the_shipped_field_model_reads_synthetic_fields_of_test_digits(mnist_path):
    from edge_digits.measure.fields import string_scores, synthetic_fields
    from edge_digits.runtime.field_reader import FieldReader

    images, labels = synthetic_fields(str(mnist_path), 200, seed=5)
    for backend in ("onnx", "tflite"):
        reader = FieldReader(EXPORT_DIR, backend=backend)  # export/field/, checked against its manifest
        accuracy, exact = string_scores([reader.read(image).text for image in images], labels)
        assert accuracy > 0.95 and exact > 0.8, (backend, accuracy, exact)
