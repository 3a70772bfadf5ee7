"""--limit's stratification, evaluate's precision/recall/F1, predict on PNG/JPEG, JSON output."""

import json
import random
from fractions import Fraction

import numpy as np
import pytest
from helpers import spec
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.data.limit import stratified_first
from cnncalc.engine.scores import class_scores
from cnncalc.errors import DataError

runner = CliRunner()
NET = spec("- conv: {filters: 4, kernel: 3, padding: 1}\n- relu\n- maxpool: 2\n- flatten\n- dense: 3\n- softmax",
           (8, 8, 1))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


# ---------------------------------------------------------------- --limit

Y = np.array([0, 1, 0, 2, 1, 0, 0, 2, 1, 0])  # class 0 at rows 0 2 5 6 9; class 1 at 1 4 8; class 2 at 3 7


@pytest.mark.parametrize("n, rows, per_class", [
    # 4 = 3·1 + 1: one each, the remainder to class 0 → rows 0 2 | 1 | 3
    (4, [0, 1, 2, 3], ((0, 2), (1, 1), (2, 1))),
    # 7 = 3·2 + 1: two each, one more to class 0 → 0 2 5 | 1 4 | 3 7
    (7, [0, 1, 2, 3, 4, 5, 7], ((0, 3), (1, 2), (2, 2))),
    # 9: three each, but class 2 has 2; its missing one goes to the next open class (0; class 1 is full)
    (9, [0, 1, 2, 3, 4, 5, 6, 7, 8], ((0, 4), (1, 3), (2, 2))),
    (3, [0, 1, 3], ((0, 1), (1, 1), (2, 1))),
])
def test_limit_takes_equal_shares_in_file_order(n, rows, per_class):
    got, record = stratified_first(Y, n)
    assert got.tolist() == rows and record.per_class == per_class
    assert (record.requested, record.taken, record.available) == (n, n, 10)


def test_limit_beyond_the_set_and_below_the_classes():
    rows, record = stratified_first(Y, 50)
    assert rows.tolist() == list(range(10)) and (record.taken, record.available) == (10, 10)
    with pytest.raises(DataError) as err:
        stratified_first(Y, 2, "d.npz")
    assert "limit" in err.value.line() and "received 2" in err.value.line() and "at least 3" in err.value.line()


def test_limit_through_load_keeps_the_chosen_rows(tmp_path):
    from cnncalc.data import load

    x = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=Y)
    ds = load(str(tmp_path / "d.npz"), limit=7, val_fraction=0.0)
    # images are their row numbers: un-normalise and read them back
    kept = np.rint(ds.train.x[:, 0, 0, 0] * ds.std[0] + ds.mean[0]).astype(int)
    assert kept.tolist() == [0, 1, 2, 3, 4, 5, 7] and ds.limit.taken == 7


# ---------------------------------------------------------------- precision, recall, F1

def test_scores_of_a_hand_worked_confusion_matrix():
    confusion = [[5, 1, 0, 0],
                 [2, 3, 1, 0],
                 [0, 2, 0, 0],
                 [0, 0, 0, 0]]  # class 3 neither occurs nor is predicted
    s = class_scores(confusion)
    # class 0: predicted 7 times (column), 5 right; 6 images (row), 5 found; F1 = 2·(5/7)(5/6)/(5/7 + 5/6) = 10/13
    # class 1: column 6, row 6, 3 right → 1/2, 1/2, 1/2; class 2: column 1, row 2, none right → 0, 0, F1 0
    assert s.precision[:3] == pytest.approx([5 / 7, 1 / 2, 0.0]) and s.precision[3] is None
    assert s.recall[:3] == pytest.approx([5 / 6, 1 / 2, 0.0]) and s.recall[3] is None
    assert s.f1[:3] == pytest.approx([10 / 13, 1 / 2, 0.0]) and s.f1[3] is None
    assert s.support == [6, 6, 2, 0] and s.occurring == 3
    # macro over the 3 classes that occur: (5/7 + 1/2 + 0)/3 = 17/42, (5/6 + 1/2)/3 = 4/9, (10/13 + 1/2)/3 = 11/26
    assert (s.macro_precision, s.macro_recall, s.macro_f1) == pytest.approx((17 / 42, 4 / 9, 11 / 26))


def test_a_class_never_predicted_counts_as_zero_in_the_macro_average():
    s = class_scores([[2, 0], [1, 0]])
    assert s.precision[0] == pytest.approx(2 / 3) and s.precision[1] is None
    assert s.recall == pytest.approx([1.0, 0.0]) and s.f1[0] == pytest.approx(0.8) and s.f1[1] is None
    assert (s.macro_precision, s.macro_recall, s.macro_f1) == pytest.approx((1 / 3, 1 / 2, 0.4))


def test_scores_match_counting_the_label_pairs_directly():
    rng = random.Random(7)
    for _ in range(20):
        k = rng.randint(2, 6)
        t = [rng.randrange(k) for _ in range(rng.randint(1, 60))]
        p = [rng.randrange(k) for _ in t]
        confusion = [[0] * k for _ in range(k)]
        for a, b in zip(t, p):
            confusion[a][b] += 1
        s = class_scores(confusion)
        for c in range(k):
            hits = sum(a == c and b == c for a, b in zip(t, p))
            said, real = p.count(c), t.count(c)
            prec = Fraction(hits, said) if said else None
            rec = Fraction(hits, real) if real else None
            assert s.precision[c] == (None if prec is None else pytest.approx(float(prec)))
            assert s.recall[c] == (None if rec is None else pytest.approx(float(rec)))
            if prec is not None and rec is not None:
                f1 = Fraction(2 * hits, said + real)  # 2PR/(P+R) = 2·tp/(predicted + actual)
                assert s.f1[c] == pytest.approx(float(f1))


# ---------------------------------------------------------------- predict and evaluate end to end

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("pe")
    (base / "net.yaml").write_text(NET)
    result = invoke("train", base / "net.yaml", "--epochs", 1, "--out", base / "run", "--threads", 1,
                    "--limit", 600)
    assert result.exit_code == 0, result.output
    return base


def test_limit_is_recorded_and_evaluate_json_scores_follow_the_confusion(run):
    config = json.loads((run / "run" / "config.json").read_text())
    assert config["limit"] == 600
    result = invoke("evaluate", run / "run", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    c = np.array(out["confusion"])
    for k in range(3):
        if c[:, k].sum():
            assert out["precision"][k] == pytest.approx(c[k, k] / c[:, k].sum())
        if c[k].sum():
            assert out["recall"][k] == pytest.approx(c[k, k] / c[k].sum())
    table = invoke("evaluate", run / "run")
    assert "precision" in table.stdout and "macro average" in table.stdout


def test_predict_reads_png_and_jpeg_as_the_same_pixels(run):
    Image = pytest.importorskip("PIL.Image")
    gray = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(gray, "L").save(run / "g.png")
    Image.fromarray(np.stack([gray] * 3, -1), "RGB").save(run / "rgb.png")  # R = G = B: luma is the value
    Image.fromarray(np.full((8, 8), 128, np.uint8), "L").save(run / "flat.jpg")  # flat 128 survives JPEG
    np.savez(run / "ref.npz", x=np.stack([gray, gray, np.full((8, 8), 128, np.uint8)])[..., None])
    got = json.loads(invoke("predict", run / "run", run / "g.png", run / "rgb.png", run / "flat.jpg",
                            "--format", "json", "--top-k", 2).stdout)
    ref = json.loads(invoke("predict", run / "run", run / "ref.npz", "--format", "json", "--top-k", 2).stdout)
    assert [g["input"] for g in got] == [str(run / n) for n in ("g.png", "rgb.png", "flat.jpg")]
    assert [r["input"] for r in ref] == [f"{run / 'ref.npz'}[{i}]" for i in range(3)]
    for g, r in zip(got, ref):
        assert len(g["top"]) == 2 and [e["class"] for e in g["top"]] == [e["class"] for e in r["top"]]
        assert [e["probability"] for e in g["top"]] == pytest.approx([e["probability"] for e in r["top"]])
    text = invoke("predict", run / "run", str(run / "*.png"))
    assert text.exit_code == 0 and text.stdout.splitlines()[0].startswith(f"{run / 'g.png'}: class")


def test_predict_refuses_or_resizes_another_size(run):
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray(np.full((16, 12), 100, np.uint8), "L").save(run / "big.png")
    refused = invoke("predict", run / "run", run / "big.png")
    assert refused.exit_code == 1 and "the image is 16×12 but the network takes 8×8" in refused.output
    assert "--resize" in refused.output and "Traceback" not in refused.output
    np.savez(run / "flat100.npz", x=np.full((1, 8, 8, 1), 100, np.uint8))
    resized = json.loads(invoke("predict", run / "run", run / "big.png", "--resize", "--format", "json").stdout)
    ref = json.loads(invoke("predict", run / "run", run / "flat100.npz", "--format", "json").stdout)
    # a flat picture stays flat under bilinear scaling
    assert [e["probability"] for e in resized[0]["top"]] == pytest.approx([e["probability"] for e in ref[0]["top"]])
    missing = invoke("predict", run / "run", str(run / "*.gif"))
    assert missing.exit_code == 1 and "no file matches" in missing.output


def test_inputs_too_large_for_memory_are_one_line(run, monkeypatch):
    # bug: a MemoryError from reading a huge input file escaped predict as a traceback
    import cnncalc.data.images as images

    def too_big(*_):
        raise MemoryError

    monkeypatch.setattr(images, "read_inputs", too_big)
    np.savez(run / "one.npz", x=np.zeros((1, 8, 8, 1), np.uint8))
    result = invoke("predict", run / "run", run / "one.npz")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and "not enough memory to read the inputs" in result.output
    assert str(run / "one.npz") in result.output


def test_bare_data_name_not_fetched_is_one_line(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    result = invoke("train", tmp_path / "net.yaml", "--data", "kmnist", "--data-dir", tmp_path / "cache",
                    "--out", tmp_path / "r")
    assert result.exit_code == 1 and "run: cnncalc data fetch kmnist" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()
