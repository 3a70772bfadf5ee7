"""Diagnostics and dimension errors: the warnings' sentences, their fixes, and the DimensionError texts
of the layer rules (the rules raise records of numbers; these are their words).

Fields keep the symbols as they are (n_H, n_C_prev, f, s, p); `{formula}` is the window formula
with its numbers (`render.messages.window_formula`).
"""

from __future__ import annotations

_UNIT_EN = {"n_H": "row", "n_W": "column"}
_UNIT_KO = {"n_H": "행", "n_W": "열"}


def _lost_en(axes, lost):
    """'last input row and column are', 'last 2 input rows are'."""
    unit = " and ".join(_UNIT_EN[a] for a in axes)
    if lost == 1:
        return f"last input {unit} " + ("are" if len(axes) == 2 else "is")
    units = unit.replace(" and ", "s and ") + "s"
    return f"last {lost} input {units} are"


def _inexact_en(layer, formula, axes, lost):
    return f"{layer}: {formula} is not an integer along {' and '.join(axes)} — the {_lost_en(axes, lost)} never read"


def _inexact_ko(layer, formula, axes, lost):
    axis = ", ".join(axes)
    unit = "과 ".join(_UNIT_KO[a] for a in axes)
    count = "" if lost == 1 else f" {lost}개"
    return (f"{layer}: {formula}, {axis} 방향으로 정수가 아님 (나누어떨어지지 않음) — "
            f"입력의 마지막{count} {unit}은(는) 읽히지 않음")


def _padding_only_en(layer, formula, axes, remainder):
    unit = " and ".join(_UNIT_EN[a] for a in axes)
    rows = unit if remainder == 1 else f"{remainder} " + unit.replace(" and ", "s and ") + "s"
    return (f"{layer}: {formula} is not an integer along {' and '.join(axes)} — only the last padding {rows} "
            f"{'is' if remainder == 1 and len(axes) == 1 else 'are'} never read; no input is lost")


def _padding_only_ko(layer, formula, axes, remainder):
    unit = "과 ".join(_UNIT_KO[a] for a in axes)
    count = "" if remainder == 1 else f" {remainder}개"
    return (f"{layer}: {formula}, {', '.join(axes)} 방향으로 정수가 아님 — 읽히지 않는 것은 마지막{count} "
            f"패딩 {unit}뿐이며 입력은 모두 읽힘")


def _gaps_en(layer, formula, axes, lost, f, s):
    return (f"{layer}: {formula} is not an integer along {' and '.join(axes)} — the {_lost_en(axes, lost)} "
            f"never read, like those between its {f}-wide windows at stride {s}: a window narrower than its "
            "stride subsamples by design")


def _gaps_ko(layer, formula, axes, lost, f, s):
    unit = "과 ".join(_UNIT_KO[a] for a in axes)
    count = "" if lost == 1 else f" {lost}개"
    return (f"{layer}: {formula}, {', '.join(axes)} 방향으로 정수가 아님 — 입력의 마지막{count} {unit}은(는) "
            f"읽히지 않음. 크기 {f}인 윈도우가 스트라이드 {s}로 건너뛰는 행과 열처럼: 스트라이드보다 좁은 "
            "윈도우는 설계상 일부만 읽음")


def _inputs_en(sizes, axis):
    where = "an input" if axis == "n_H and n_W" else f"an input {axis}"
    return f"{where} of {' or '.join(map(str, sizes))} (every layer then divides exactly)"


def _inputs_ko(sizes, axis):
    where = "입력" if axis == "n_H and n_W" else f"입력 {axis}"
    return f"{where} 크기 {' 또는 '.join(map(str, sizes))} (그러면 모든 층이 나누어떨어짐)"


def _fit_fix_en(need_each, kernel_max, dilated):
    options = [f"padding {need_each} on each side"] + (["a smaller dilation"] if dilated else [])
    options.append(f"a kernel ≤ {kernel_max}")
    return "use " + ", ".join(options) + " or fewer downsampling layers before it"


def _fit_fix_ko(need_each, kernel_max, dilated):
    options = [f"양쪽에 패딩 {need_each}"] + (["더 작은 dilation"] if dilated else [])
    options.append(f"{kernel_max} 이하의 커널")
    return ", ".join(options) + " 또는 그 앞의 다운샘플링 층을 줄일 것"


EN = {
    "diagnostics.warning": "warning: {where}{message}",
    "diagnostics.note": "note: {where}{message}",
    "diagnostics.error": "error: {line}",
    "diagnostics.inexact": _inexact_en,
    "diagnostics.inexact_padding": _padding_only_en,
    "diagnostics.inexact_gaps": _gaps_en,
    "diagnostics.channels_first": ("{field} {written} is read as n_H = {n_H}, n_W = {n_W}, n_C = {n_C}, but it "
                                   "looks like PyTorch's channels-first C×H×W order"),
    "diagnostics.fix.channels_first": "write it as {fixed} (n_H, n_W, n_C)",
    "diagnostics.fix.inputs": _inputs_en,
    "diagnostics.unused_output": "{layer}: its output is never used (the network's output is {output})",
    "diagnostics.unused_argument": "block '{block}': argument ${argument} is declared but never used in its layers",
    "diagnostics.fix.padding": "padding {p}",
    "diagnostics.fix.stride": "stride {s}",
    "diagnostics.fix.ceil": "ceil_mode: true",
    "diagnostics.fix.same": "padding: same",
    "diagnostics.fix.or": " or ",
    "diagnostics.fix.divides": "{fixes} divides exactly",
    "diagnostics.fix.then": "; or ",
    "diagnostics.fix.unused_output": "read it with from: or remove it",
    "diagnostics.fix.unused_argument": "use ${argument} in the block's layers or remove it from args",
    "diagnostics.strict": "{message} (an error under --strict)",
    # dimension errors of the layer rules
    "diagnostics.needs_map": "{layer}: {kind} needs an n_H×n_W×n_C feature map but reads a flat vector of {n} from {source}",
    "diagnostics.needs_map.fix": "move flatten (or global_avgpool) after the last conv/pool layer",
    "diagnostics.pool_padding": ("{layer}: {kind} padding {p} along {axis} is more than half its {f}-wide window "
                                 "(at most ⌊{f}/2⌋ = {half} per side); a window could lie wholly in the padding"),
    "diagnostics.pool_padding.fix": "padding at most {half}, or a larger kernel",
    "diagnostics.window_too_large": ("{layer}: {kind} window {f_eff} is larger than the padded input "
                                     "{n} + {p_a} + {p_b} = {padded} along {axis} (input {shape}); {formula}"),
    "diagnostics.window_too_large.fix": _fit_fix_en,
    "diagnostics.groups": "{layer}: groups {groups} must divide both n_C_prev = {n_C_prev} and n_C = {n_C}",
    "diagnostics.groups.fix": "choose groups among the common divisors, e.g. {divisors}",
    "diagnostics.transposed_small": ("{layer}: conv_transpose output along {axis} is ({n} − 1)·{s} − {p_a} − {p_b} + "
                                     "{d}·({f} − 1) + {op} + 1 = {n_out}, less than 1"),
    "diagnostics.transposed_small.fix": "crop at most {most} rows in all (padding)",
    "diagnostics.dense_map": "{layer}: dense reads the {shape} feature map of {source}, but needs a flat vector",
    "diagnostics.dense_map.fix": "add `- flatten` before it (giving {flat:,} inputs) or `- global_avgpool` (giving {n_C})",
    "diagnostics.add_shapes": "{layer}: add needs equal shapes but {a} gives {shape_a} and {b} gives {shape_b}",
    "diagnostics.add_shapes.fix": "project the shortcut with a 1×1 conv (matching stride and filters)",
    "diagnostics.concat_shapes": "{layer}: concat needs equal n_H×n_W but {a} gives {shape_a} and {b} gives {shape_b}",
    "diagnostics.concat_shapes.fix": "give every branch the same stride and padding ('same' keeps n_H×n_W)",
    "diagnostics.mul_count": "{layer}: mul multiplies two inputs but reads {count} ({sources})",
    "diagnostics.mul_count.fix": "multiply two at a time: one mul per product",
    "diagnostics.mul_shapes": ("{layer}: mul needs equal shapes, or a map and a gate of its channels, but {a} "
                               "gives {shape_a} and {b} gives {shape_b}"),
    "diagnostics.mul_shapes.fix_gate": "give the gate {n_C} channels ({n_C} or 1×1×{n_C}) to scale an n_H×n_W×{n_C} map",
    "diagnostics.mul_shapes.fix": "multiply inputs of one shape",
    "diagnostics.channel_slice": ("{layer}: channel_slice [{start}, {stop}) needs 0 ≤ start < stop ≤ n_C_prev, "
                                  "but {source} gives {shape} (n_C_prev = {n_C_prev})"),
    "diagnostics.channel_slice.fix": ("choose start < stop ≤ {n_C_prev}; halves of {n_C_prev}: [0, {half}) and "
                                      "[{half}, {n_C_prev})"),
    "diagnostics.channel_shuffle": ("{layer}: channel_shuffle with groups {g} needs n_C divisible by {g}, but {source} "
                                    "gives {shape}: {n_C} = {g}·{quotient} + {remainder}"),
    "diagnostics.channel_shuffle.fix": "give the layer before it a multiple of {g} channels, or groups dividing {n_C}",
    "diagnostics.prelu": ("{layer}: prelu's num_parameters must be 1 or the {n_C} channels of its input "
                          "({source} gives {shape}); received {count}"),
    "diagnostics.prelu.fix": "num_parameters: {n_C} (one slope per channel) or 1 (one for all)",
    "diagnostics.too_large": "{layer}: the output {shape} is larger than 10^18 along an axis",
    "diagnostics.too_large.fix": "fewer concats or paddings that grow the map",
}

KO = {
    "diagnostics.warning": "경고: {where}{message}",
    "diagnostics.note": "참고: {where}{message}",
    "diagnostics.error": "오류: {line}",
    "diagnostics.inexact": _inexact_ko,
    "diagnostics.inexact_padding": _padding_only_ko,
    "diagnostics.inexact_gaps": _gaps_ko,
    "diagnostics.channels_first": ("{field} {written}은(는) n_H = {n_H}, n_W = {n_W}, n_C = {n_C}로 읽히지만 "
                                   "PyTorch의 채널 우선(C×H×W) 순서로 보임"),
    "diagnostics.fix.channels_first": "{fixed} (n_H, n_W, n_C)로 쓸 것",
    "diagnostics.fix.inputs": _inputs_ko,
    "diagnostics.unused_output": "{layer}: 이 층의 출력은 쓰이지 않음 (네트워크의 출력은 {output})",
    "diagnostics.unused_argument": "블록 '{block}': 인자 ${argument}이(가) 선언되었지만 블록의 층에서 쓰이지 않음",
    "diagnostics.fix.padding": "패딩 {p}",
    "diagnostics.fix.stride": "스트라이드 {s}",
    "diagnostics.fix.ceil": "ceil_mode: true",
    "diagnostics.fix.same": "padding: same",
    "diagnostics.fix.or": " 또는 ",
    "diagnostics.fix.divides": "{fixes}(으)로 나누어떨어짐",
    "diagnostics.fix.then": "; 또는 ",
    "diagnostics.fix.unused_output": "from:으로 읽거나 이 층을 지울 것",
    "diagnostics.fix.unused_argument": "블록의 층에서 ${argument}을(를) 쓰거나 args에서 지울 것",
    "diagnostics.strict": "{message} (--strict에서는 오류)",
    "diagnostics.needs_map": "{layer}: {kind}은(는) n_H×n_W×n_C 특징 맵이 필요하지만 {source}에서 길이 {n}의 벡터를 읽음",
    "diagnostics.needs_map.fix": "flatten(또는 global_avgpool)을 마지막 conv/pooling 층 뒤로 옮길 것",
    "diagnostics.pool_padding": ("{layer}: {kind}의 {axis} 방향 패딩 {p}이(가) 크기 {f}인 윈도우의 절반보다 큼 "
                                 "(한쪽에 최대 ⌊{f}/2⌋ = {half}); 윈도우 전체가 패딩 안에 놓일 수 있음"),
    "diagnostics.pool_padding.fix": "패딩을 {half} 이하로 하거나 더 큰 커널을 쓸 것",
    "diagnostics.window_too_large": ("{layer}: {kind}의 윈도우 {f_eff}이(가) {axis} 방향으로 패딩된 입력 "
                                     "{n} + {p_a} + {p_b} = {padded}보다 큼 (입력 {shape}); {formula}"),
    "diagnostics.window_too_large.fix": _fit_fix_ko,
    "diagnostics.groups": "{layer}: groups {groups}은(는) n_C_prev = {n_C_prev}와 n_C = {n_C}를 모두 나누어야 함",
    "diagnostics.groups.fix": "공약수 중에서 groups를 고를 것, 예: {divisors}",
    "diagnostics.transposed_small": ("{layer}: conv_transpose의 {axis} 방향 출력 크기가 ({n} − 1)·{s} − {p_a} − {p_b} + "
                                     "{d}·({f} − 1) + {op} + 1 = {n_out}, 1보다 작음"),
    "diagnostics.transposed_small.fix": "잘라내는 행(패딩)을 모두 합해 {most} 이하로 할 것",
    "diagnostics.dense_map": "{layer}: dense가 {source}의 {shape} 특징 맵을 읽지만 벡터가 필요함",
    "diagnostics.dense_map.fix": "앞에 `- flatten`(입력 {flat:,}개) 또는 `- global_avgpool`(입력 {n_C}개)을 넣을 것",
    "diagnostics.add_shapes": "{layer}: add는 크기가 같아야 하지만 {a}은(는) {shape_a}, {b}은(는) {shape_b}",
    "diagnostics.add_shapes.fix": "shortcut을 1×1 conv로 사영할 것 (스트라이드와 필터 수를 맞춰서)",
    "diagnostics.concat_shapes": "{layer}: concat은 n_H×n_W가 같아야 하지만 {a}은(는) {shape_a}, {b}은(는) {shape_b}",
    "diagnostics.concat_shapes.fix": "모든 분기에 같은 스트라이드와 패딩을 줄 것 ('same'은 n_H×n_W를 유지함)",
    "diagnostics.mul_count": "{layer}: mul은 입력 두 개를 곱하지만 {count}개를 읽음 ({sources})",
    "diagnostics.mul_count.fix": "두 개씩 곱할 것: 곱 하나에 mul 하나",
    "diagnostics.mul_shapes": ("{layer}: mul은 크기가 같거나 특징 맵과 그 채널의 게이트여야 하지만 "
                               "{a}은(는) {shape_a}, {b}은(는) {shape_b}"),
    "diagnostics.mul_shapes.fix_gate": "n_H×n_W×{n_C} 맵에 곱하려면 게이트에 채널 {n_C}개({n_C} 또는 1×1×{n_C})를 줄 것",
    "diagnostics.mul_shapes.fix": "같은 크기의 입력끼리 곱할 것",
    "diagnostics.channel_slice": ("{layer}: channel_slice [{start}, {stop})에는 0 ≤ start < stop ≤ n_C_prev가 "
                                  "필요하지만 {source}은(는) {shape} (n_C_prev = {n_C_prev})"),
    "diagnostics.channel_slice.fix": ("start < stop ≤ {n_C_prev}로 고를 것; {n_C_prev}의 절반: [0, {half})과 "
                                      "[{half}, {n_C_prev})"),
    "diagnostics.channel_shuffle": ("{layer}: groups {g}의 channel_shuffle에는 {g}로 나누어떨어지는 n_C가 필요하지만 "
                                    "{source}은(는) {shape}: {n_C} = {g}·{quotient} + {remainder}"),
    "diagnostics.channel_shuffle.fix": "앞 층의 채널을 {g}의 배수로 하거나 {n_C}를 나누는 groups를 쓸 것",
    "diagnostics.prelu": ("{layer}: prelu의 num_parameters는 1 또는 입력의 채널 수 {n_C}여야 함 "
                          "({source}은(는) {shape}); 받은 값 {count}"),
    "diagnostics.prelu.fix": "num_parameters: {n_C} (채널마다 기울기 하나) 또는 1 (전체에 하나)",
    "diagnostics.too_large": "{layer}: 출력 {shape}이(가) 한 축에서 10^18보다 큼",
    "diagnostics.too_large.fix": "크기를 키우는 concat이나 패딩을 줄일 것",
}
