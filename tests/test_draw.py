"""`cnncalc draw`: the SVG parses, every row (or folded block) is drawn once with its shape, no two boxes
or labels overlap, edges and Mermaid's arrows are the graph's own, the receptive field has its size.

Every check reads the SVG or Mermaid text back (xml.etree, a regex) and compares it with what the
spec says through the report's rows and the graph's `inputs` — never with the layout's own record.
A label's box is worked out from the text as printed: a monospace advance of 0.6 em per character
(2 cells for a wide character), from 0.8 em above the baseline to 0.25 em below it.
"""

import math
import os
import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.analysis import fold
from cnncalc.cli import app
from cnncalc.render.mermaid import mermaid
from cnncalc.render.svg import svg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SVG = "{http://www.w3.org/2000/svg}"
ADVANCE = 0.6  # em: DejaVu Sans Mono's 1233/2048, Liberation Mono's 1229/2048

# A `from:` graph: a stem, two branches of different lengths that add, a skip over four layers into a
# concat, and a dense head after a global pool.
FROM_GRAPH = """\
name: from_graph
input: [32, 32, 3]
layers:
  - conv: {filters: 8, kernel: 3, padding: 1, name: stem}
  - conv: {filters: 8, kernel: 3, padding: 1, name: a1}
  - conv: {filters: 8, kernel: 3, padding: 1, name: a2}
  - conv: {filters: 8, kernel: 1, from: stem, name: b1}
  - add: {from: [a2, b1], name: sum}
  - maxpool: {kernel: 2, name: down}
  - conv: {filters: 16, kernel: 3, padding: 1, name: c1}
  - relu: {name: c1_relu}
  - conv: {filters: 16, kernel: 3, padding: 1, name: c2}
  - relu: {name: c2_relu}
  - concat: {from: [c2_relu, down], name: cat}
  - global_avgpool: {name: gap}
  - dense: {units: 10, name: fc}
"""


def spec_path(name, tmp_path=None):
    if name == "from_graph":
        path = tmp_path / "from_graph.yaml"
        path.write_text(FROM_GRAPH)
        return str(path)
    return os.path.join(ROOT, "specs", f"{name}.yaml")


def shape_label(shape):
    """n_H×n_W×n_C with thousands separators, as the tables print it (written here, not imported)."""
    return "×".join(f"{v:,}" for v in shape)


def points(text):
    values = [float(v) for v in re.split(r"[ ,]+", text.strip())]
    return list(zip(values[::2], values[1::2]))


def cells(text):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def text_box(el):
    size = float(el.get("font-size"))
    x, y = float(el.get("x")), float(el.get("y"))
    w = cells(el.text) * ADVANCE * size
    assert el.get("text-anchor") == "middle"
    return (x - w / 2, y - 0.8 * size, x + w / 2, y + 0.25 * size)


def box_of(pts):
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs), max(ys))


def layers_of(root):
    """{data-row: [(kind of item, box)]} read from the SVG: each layer's figure (its faces or bar, as one
    box) and each label line; plus its kernel's and the field's polygons to check they lie inside."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "layer":
            continue
        name = g.get("data-row")
        figure = []
        for el in g:
            if el.tag == f"{SVG}polygon" and el.get("class") in ("front", "top", "side"):
                figure += points(el.get("points"))
            elif el.tag == f"{SVG}rect":
                x, y, w, h = (float(el.get(k)) for k in ("x", "y", "width", "height"))
                figure += [(x, y), (x + w, y + h)]
        items = [("figure", box_of(figure))] if figure else []
        items += [("label", text_box(el)) for el in g if el.tag == f"{SVG}text"]
        kernels = [box_of(points(el.get("points"))) for el in g
                   if el.tag == f"{SVG}polygon" and el.get("class") == "kernel"]
        texts = [el.text for el in g if el.tag == f"{SVG}text"]
        out.setdefault(name, []).append((items, kernels, texts))
    return out


def overlaps(boxes):
    """The pairs of (owner, box) whose boxes overlap by more than 0.01 units: a sweep over x."""
    order = sorted(boxes, key=lambda b: b[1][0])
    found, active = [], []
    for owner, box in order:
        active = [(o, b) for o, b in active if b[2] > box[0] + 0.01]
        for o, b in active:
            if min(b[3], box[3]) - max(b[1], box[1]) > 0.01 and min(b[2], box[2]) - max(b[0], box[0]) > 0.01:
                found.append((o, owner))
        active.append((owner, box))
    return found


def drawn(name, tmp_path, depth=None, rf=None):
    report, picture = api.drawing(spec_path(name, tmp_path), depth=depth, rf=rf)
    assert report.error is None
    return report, ET.fromstring(svg(picture))


CASES = [("lenet5", None), ("resnet18", None), ("resnet18", 2), ("googlenet", None), ("googlenet", 1),
         ("densenet121", None), ("densenet121", 2), ("unet_small", None), ("from_graph", None)]


@pytest.mark.parametrize("name,depth", CASES)
def test_every_row_is_drawn_once_with_its_shape_and_nothing_overlaps(name, depth, tmp_path):
    report, root = drawn(name, tmp_path, depth)
    assert root.tag == f"{SVG}svg"
    rows = fold(report, depth)
    layers = layers_of(root)
    # every row of the table at this depth, and nothing else, once (an aux block folds apart: twice)
    expected = {}
    for r in rows:
        expected.setdefault(r.name, []).append(r)
    assert sorted(layers) == sorted(expected)
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    boxes = []
    for layer, drawings in layers.items():
        assert len(drawings) == len(expected[layer]), layer
        for (items, kernels, texts), row in zip(drawings, expected[layer]):
            assert texts[0] == layer and shape_label(row.out_shape) in texts, (layer, texts)
            assert [kind for kind, _ in items].count("figure") == 1, layer
            figure = next(b for kind, b in items if kind == "figure")
            for k in kernels:  # a kernel lies on the volume it slides over
                assert figure[0] - 0.01 <= k[0] and k[2] <= figure[2] + 0.01, layer
                assert figure[1] - 0.01 <= k[1] and k[3] <= figure[3] + 0.01, layer
            for kind, b in items:
                assert 0 <= b[0] and b[2] <= width and 0 <= b[1] and b[3] <= height, (layer, kind, b)
                boxes.append(((layer, kind, b), b))
    assert overlaps(boxes) == []
    if depth is not None:
        assert any(g.get("data-kind") == "block" for g in root.iter(f"{SVG}g")), "no folded block drawn"


def graph_edges(report, rows, depth):
    """The edges between the rows at `depth`, from the graph's own `inputs`: a layer belongs to the row
    named by its scope's depth-th entry when it is nested that deep, else to its own row."""
    names = {r.name for r in rows}

    def holder(node):
        if depth is not None and len(node.scope) >= depth and node.scope[depth - 1] in names:
            return node.scope[depth - 1]
        return node.name

    edges = set()
    for node in report.graph.nodes:
        for i in node.inputs:
            a, b = holder(report.graph.node(i)), holder(node)
            if a != b:
                edges.add((a, b))
    return edges


@pytest.mark.parametrize("name,depth", [("googlenet", None), ("resnet18", 1), ("densenet121", 2),
                                        ("unet_small", None), ("from_graph", None)])
def test_the_svg_edges_are_the_graphs(name, depth, tmp_path):
    report, root = drawn(name, tmp_path, depth)
    paths = [p for g in root.iter(f"{SVG}g") if g.get("class") == "edges" for p in g]
    got = {(p.get("data-from"), p.get("data-to")) for p in paths}
    assert len(got) == len(paths)  # no edge twice
    assert got == graph_edges(report, fold(report, depth), depth)


def test_the_from_graph_puts_parallel_branches_in_different_lanes(tmp_path):
    """a1 and b1 both read stem: they sit one above the other (same x), not one after the other."""
    _, root = drawn("from_graph", tmp_path)
    layers = layers_of(root)
    a1 = next(b for kind, b in layers["a1"][0][0] if kind == "figure")
    b1 = next(b for kind, b in layers["b1"][0][0] if kind == "figure")
    assert max(a1[0], b1[0]) < min(a1[2], b1[2])  # their x ranges meet
    assert a1[3] < b1[1]  # b1 below a1


@pytest.mark.parametrize("name,depth", [("lenet5", None), ("googlenet", None), ("googlenet", 1),
                                        ("resnet18", 2), ("from_graph", None)])
def test_mermaid_has_a_node_per_row_and_the_graphs_edges(name, depth, tmp_path):
    report = api.report(spec_path(name, tmp_path))
    text = mermaid(report, depth)
    assert text.startswith("flowchart LR\n")
    nodes = dict(re.findall(r'^  (n\d+)\["([^"]*)"\]$', text, re.M))
    rows = fold(report, depth)
    assert len(nodes) == len(rows)
    names = {}
    for node, label in nodes.items():
        parts = label.split("<br/>")
        names[node] = parts[0]
        row = next(r for r in rows if r.name == parts[0])
        assert parts[-1] == shape_label(row.out_shape)
    assert [names[n] for n in sorted(nodes, key=lambda n: int(n[1:]))] == [r.name for r in rows]
    arrows = re.findall(r"^  (n\d+) --> (n\d+)$", text, re.M)
    assert len(set(arrows)) == len(arrows)
    assert {(names[a], names[b]) for a, b in arrows} == graph_edges(report, rows, depth)


def test_mermaid_writes_quotes_and_angle_brackets_as_entities():
    # a spec's names are letters, digits, _ and -; a block's label is the user's own text: a row named
    # so here stands for any text that reaches a label
    report = api.report(os.path.join(ROOT, "specs", "lenet5.yaml"))
    odd = 'a<b>"#'
    report.rows[1].name, report.rows[2].inputs = odd, [odd]
    text = mermaid(report)
    assert '  n1["a#lt;b#gt;#quot;#35;<br/>' in text and "  n1 --> n2" in text


# LeNet-5 (specs/lenet5.yaml), by hand: r_out = r_in + (f − 1)·j_in, j_out = j_in·s
#   conv1 5×5 s1: 1 + 4·1 = 5, j 1;  maxpool1 2×2 s2: 5 + 1·1 = 6, j 2;  conv2 5×5 s1: 6 + 4·2 = 14, j 2
#   maxpool2 2×2 s2: 14 + 1·2 = 16, j 4;  the input is 32×32.
@pytest.mark.parametrize("layer,r", [("conv1", 5), ("maxpool1", 6), ("conv2", 14), ("maxpool2", 16), ("dense3", 32)])
def test_the_receptive_field_is_drawn_at_its_size_on_the_input(layer, r, tmp_path):
    _, root = drawn("lenet5", tmp_path, rf=layer)
    field = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "field")
    assert field.get("data-layer") == layer
    quad = points(field.find(f"{SVG}polygon").get("points"))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("data-row") == "input")
    side = points(next(el for el in group if el.get("class") == "side").get("points"))
    # a face is p, p + n_W·(dx, −dy), then down n_H: its first edge runs along n_W, its second along n_H
    along_W = math.dist(side[0], side[1])
    along_H = math.dist(side[1], side[2])
    assert math.dist(quad[0], quad[1]) == pytest.approx(along_W * r / 32, abs=0.15)
    assert math.dist(quad[1], quad[2]) == pytest.approx(along_H * r / 32, abs=0.15)
    # on the face: every corner inside the input's right face's box
    face = box_of(side)
    assert all(face[0] - 0.1 <= x <= face[2] + 0.1 and face[1] - 0.1 <= y <= face[3] + 0.1 for x, y in quad)
    texts = [el.text for el in group if el.tag == f"{SVG}text"]
    assert f"RF of {layer}: {r}×{r}" in texts


runner = CliRunner()


def test_cli_writes_svg_and_mermaid_by_suffix(tmp_path):
    lenet = os.path.join(ROOT, "specs", "lenet5.yaml")
    for suffix, start in ((".svg", "<svg "), (".mmd", "flowchart LR")):
        out = tmp_path / f"net{suffix}"
        result = runner.invoke(app, ["draw", lenet, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith(start)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("args,words", [
    (["-o", "{tmp}/net.png"], ["--output", "net.png", ".svg, .html or .mmd"]),
    (["-o", "{tmp}/net.svg", "--rf", "conv9"], ["--rf", "'conv9'", "conv1", "conv2"]),
    (["-o", "{tmp}/no/such/net.svg"], ["--output", "cannot write"]),
])
def test_cli_refuses_with_one_line_and_keeps_the_old_file(args, words, tmp_path):
    keep = tmp_path / "net.svg"
    keep.write_text("old")
    lenet = os.path.join(ROOT, "specs", "lenet5.yaml")
    result = runner.invoke(app, ["draw", lenet] + [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for w in words:
        assert w in lines[0]
    assert keep.read_text() == "old"


def test_cli_keeps_the_old_picture_when_the_spec_breaks(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: b\ninput: [4, 4, 3]\nlayers:\n  - conv: {filters: 2, kernel: 7}\n")
    keep = tmp_path / "net.svg"
    keep.write_text("old")
    result = runner.invoke(app, ["draw", str(broken), "-o", str(keep)])
    assert result.exit_code == 1
    assert "broken.yaml:4" in result.output and "Traceback" not in result.output
    assert keep.read_text() == "old"


def test_draw_imports_neither_numpy_nor_numba(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    entry = "import sys; from cnncalc.cli import main; sys.argv[0] = 'cnncalc'; sys.exit(main())"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", entry, "draw", "specs/resnet18.yaml", "-o",
                             str(tmp_path / "r.svg"), "--depth", "1", "--rf", "layer4"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert {"cnncalc", "typer", "yaml"} <= names  # the parse found imports, so an empty set cannot pass
    assert sorted(names & {"numba", "numpy", "scipy", "PIL"}) == []
    assert (tmp_path / "r.svg").read_text().startswith("<svg ")


def test_a_long_generated_spec_lays_out_without_overlaps(tmp_path):
    """120 two-branch stages (600 layers): lanes come back to two, boxes stay apart."""
    lines = ["name: long", "input: [16, 16, 4]", "layers:", "  - conv: {filters: 4, kernel: 3, padding: 1, name: s0}"]
    for i in range(1, 121):
        lines += [f"  - conv: {{filters: 4, kernel: 3, padding: 1, from: s{i - 1}, name: a{i}}}",
                  f"  - relu: {{name: r{i}}}",
                  f"  - conv: {{filters: 4, kernel: 1, from: s{i - 1}, name: b{i}}}",
                  f"  - add: {{from: [r{i}, b{i}], name: s{i}}}"]
    path = tmp_path / "long.yaml"
    path.write_text("\n".join(lines) + "\n")
    report, picture = api.drawing(str(path))
    root = ET.fromstring(svg(picture))
    layers = layers_of(root)
    assert len(layers) == len(report.rows) == 1 + 1 + 120 * 4
    boxes = [((name, kind), b) for name, ds in layers.items() for items, _, _ in ds for kind, b in items]
    assert overlaps(boxes) == []
    tops = sorted({round(b[1]) for (name, kind), b in boxes if kind == "figure"})
    assert len(tops) == 2  # two lanes, however long the spec


def test_the_readme_pictures_commands_run(tmp_path, monkeypatch):
    """The Pictures section's commands, run in a folder of their own (its specs/ the repository's)."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## Pictures: `cnncalc draw`", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.split("```sh", 1)[1].split("```", 1)[0].splitlines() if line.strip()]
    assert len(commands) >= 3
    os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    for line in commands:
        args = line.split()
        assert args[:2] == ["cnncalc", "draw"], line
        result = runner.invoke(app, args[1:])
        assert result.exit_code == 0, (line, result.output)
        out = tmp_path / args[args.index("-o") + 1]
        assert out.read_text().startswith("flowchart LR" if out.suffix == ".mmd" else "<svg ")


def test_cli_writes_the_html_page_with_the_picture(tmp_path):
    pytest.importorskip("cnncalc.render.page")  # engineer "page"'s module; merged beside this one
    out = tmp_path / "net.html"
    result = runner.invoke(app, ["draw", os.path.join(ROOT, "specs", "lenet5.yaml"), "-o", str(out), "--depth", "1"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<svg" in text and 'data-row="conv2"' in text
