"""`cnncalc explain`: the words around each formula (the tables' column headings are tables.py's).

The formulas themselves (`n_H = ⌊(n_H_prev + 2p − f)/s⌋ + 1 = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37`) are
symbols, the same in every language: `render.explain` writes them and passes them in as
`{formula}` (symbols) and `{values}` (the numbers filled in); `{result}` is the row's number with
thousands separators.
"""

from __future__ import annotations

_UNIT_EN = {"n_H": ("row", "rows"), "n_W": ("column", "columns")}
_UNIT_KO = {"n_H": "행", "n_W": "열"}


def _axes_en(axes) -> str:
    return " and ".join(axes)


def _units_en(axes, count: int) -> str:
    return " and ".join(_UNIT_EN[a][0 if count == 1 else 1] for a in axes)


def _units_ko(axes) -> str:
    return "과 ".join(_UNIT_KO[a] for a in axes)


def _same_en(axes, n, f, s, n_out, p_a, p_b, total, keep_total):
    split = (f"p = {p_a} on each side" if p_a == p_b
             else f"p = {p_a} before and {p_b} after (the odd one after, as TensorFlow places it)")
    line = (f"same along {_axes_en(axes)}: total padding = max((⌈n/s⌉ − 1)·s + f − n, 0) = "
            f"max(({n_out} − 1)·{s} + {f} − {n}, 0) = {total}, {split}")
    if s == 1:
        return line + f"; at s = 1 this is the course's p = ((n − 1)·s + f − n)/2 = (f − 1)/2, and n_out = n = {n}"
    keep = f"{keep_total // 2}" if keep_total % 2 == 0 else f"{keep_total}/2"
    return (line + f"; the course's p = ((n − 1)·s + f − n)/2 = (({n} − 1)·{s} + {f} − {n})/2 = {keep} would keep "
            f"n_out = n = {n}, but TensorFlow's same pads only what the ⌈n/s⌉ = ⌈{n}/{s}⌉ = {n_out} windows "
            f"need, so stride {s} gives {n_out}, not {n}")


def _same_ko(axes, n, f, s, n_out, p_a, p_b, total, keep_total):
    split = (f"양쪽에 p = {p_a}" if p_a == p_b
             else f"앞에 p = {p_a}, 뒤에 {p_b} (TensorFlow처럼 홀수 하나는 뒤에)")
    line = (f"{', '.join(axes)} 방향 same: 전체 패딩 = max((⌈n/s⌉ − 1)·s + f − n, 0) = "
            f"max(({n_out} − 1)·{s} + {f} − {n}, 0) = {total}, {split}")
    if s == 1:
        return line + f"; s = 1이면 강의의 p = ((n − 1)·s + f − n)/2 = (f − 1)/2와 같고 n_out = n = {n}"
    keep = f"{keep_total // 2}" if keep_total % 2 == 0 else f"{keep_total}/2"
    return (line + f"; 강의의 p = ((n − 1)·s + f − n)/2 = (({n} − 1)·{s} + {f} − {n})/2 = {keep}이면 "
            f"n_out = n = {n}이 유지되지만, TensorFlow의 same은 ⌈n/s⌉ = ⌈{n}/{s}⌉ = {n_out}개의 윈도우에 "
            f"필요한 만큼만 패딩하므로 스트라이드 {s}에서 출력은 {n}이 아니라 {n_out}")


def _remainder_en(axes, formula, remainder, lost, n):
    dropped = "the last padded position" if remainder == 1 else f"the last {remainder} padded positions"
    head = f"inexact along {_axes_en(axes)}: {formula} is not an integer; ⌊ ⌋ drops {dropped}"
    if lost == 0:
        return head + " — only padding, so no input is lost"
    if lost == 1:
        which = f"input {_units_en(axes, 1)} {n} (of {n}) " + ("are" if len(axes) == 2 else "is")
    else:
        which = f"input {_units_en(axes, lost)} {n - lost + 1}…{n} (of {n}) are"
    return head + f" — {lost} of them real input: {which} never read"


def _remainder_ko(axes, formula, remainder, lost, n):
    head = (f"{', '.join(axes)} 방향으로 나누어떨어지지 않음: {formula}, 정수가 아님; "
            f"⌊ ⌋가 패딩된 입력의 마지막 {remainder}칸을 버림")
    if lost == 0:
        return head + " — 모두 패딩이므로 잃는 입력은 없음"
    which = f"{n}번째 {_units_ko(axes)}" if lost == 1 else f"{n - lost + 1}…{n}번째 {_units_ko(axes)}"
    return head + f" — 그중 {lost}칸이 실제 입력: 입력 {n}칸 중 {which}은(는) 읽히지 않음"


def _ceil_en(axes, exact, n_out, s, start, end, last_input, reads, beyond):
    if exact:
        return f"ceil mode along {_axes_en(axes)}: the division is exact, so ⌈ ⌉ and ⌊ ⌋ agree"
    text = (f"ceil mode along {_axes_en(axes)}: ⌈ ⌉ keeps a last window, at (n_out − 1)·s = ({n_out} − 1)·{s} = "
            f"{start} … {end} of the padded input, whose input ends at {last_input}: it reads {reads} input "
            f"{_units_en(axes, reads)}")
    return text + (f" and hangs {beyond} past the padded input" if beyond else "")


def _ceil_ko(axes, exact, n_out, s, start, end, last_input, reads, beyond):
    if exact:
        return f"{', '.join(axes)} 방향 ceil mode: 나누어떨어지므로 ⌈ ⌉와 ⌊ ⌋가 같음"
    text = (f"{', '.join(axes)} 방향 ceil mode: ⌈ ⌉는 마지막 윈도우를 하나 더 둠, 패딩된 입력의 (n_out − 1)·s = "
            f"({n_out} − 1)·{s} = {start} … {end} 위치 (입력은 {last_input}에서 끝남): 입력 {_units_ko(axes)} "
            f"{reads}칸을 읽음")
    return text + (f", 끝을 {beyond}칸 넘어감" if beyond else "")


EN = {
    "explain.title": "{name} — every number of every layer, with its formula (n_H×n_W×n_C, f filter, s stride, p padding)",
    "explain.input": "{name}: the input, {shape}",
    "explain.layer": "{name}: {notation} — {inputs} → {output}",
    "explain.length": "{label} = {formula} = {values}",
    "explain.same": _same_en,
    "explain.remainder": _remainder_en,
    "explain.ceil": _ceil_en,
    "explain.params": "params = {formula} = {values} = {result} ({weights} weights + {biases} biases)",
    "explain.params_no_bias": "params = {formula} = {values} = {result} (weights only, no biases)",
    "explain.params_batchnorm": ("params = 2·n_C + 2·n_C = 2·{n_C} + 2·{n_C} = {result} ({trainable} trainable γ, β "
                                 "+ {non_trainable} non-trainable running mean and variance)"),
    "explain.params_plain": "params = {trainable} trainable + {non_trainable} non-trainable = {result}",
    "explain.macs": "MACs = {formula} = {values} = {result}",
    "explain.activations": "activations = {formula} = {values} = {result}",
    "explain.activations_vector": "activations = n = {result}",
    "explain.activations_flat": "activations = n = n_H_prev·n_W_prev·n_C_prev = {values} = {result}",
    "explain.other_ops": "other ops = {result} (element-wise work, not in MACs)",
    "explain.field": "{r_label} = {formula} = {values} = {r};  {j_label} = j_prev·s = {j_prev}·{s} = {j}",
    "explain.field_whole": ("{r_label} = {formula} = {values} = {r};  {j_label} = {j} "
                            "(one window over the whole map: f its size, stride 1)"),
    "explain.field_input": "r = {r}, j = {j} (one input pixel)",
    "explain.field_whole_input": ("receptive field: whole input — r = {r} exceeds the {n} input, and every output "
                                  "position sees every input pixel"),
    "explain.field_kept": "r = {r}, j = {j} (as its input: one position read per output)",
    "explain.field_merged": "r = {r}, j = {j} (the widest of its inputs)",
    "explain.field_rule": "r = {r}, j = {j} (transposed conv or upsample: each input reaches several outputs)",
    "explain.totals": "Totals, as in the summary — params {params}, MACs {macs}, activations {activations}",
    "explain.unknown_layer": "no layer or block of this name in {spec}",
    "explain.unknown_layer.allowed": "a layer or block name, e.g. {names}",
}

KO = {
    "explain.title": "{name} — 모든 층의 모든 값과 그 공식 (n_H×n_W×n_C, f 필터 크기, s 스트라이드, p 패딩)",
    "explain.input": "{name}: 입력, {shape}",
    "explain.layer": "{name}: {notation} — {inputs} → {output}",
    "explain.length": "{label} = {formula} = {values}",
    "explain.same": _same_ko,
    "explain.remainder": _remainder_ko,
    "explain.ceil": _ceil_ko,
    "explain.params": "파라미터 수 = {formula} = {values} = {result} (가중치 {weights} + 편향 {biases})",
    "explain.params_no_bias": "파라미터 수 = {formula} = {values} = {result} (가중치만, 편향 없음)",
    "explain.params_batchnorm": ("파라미터 수 = 2·n_C + 2·n_C = 2·{n_C} + 2·{n_C} = {result} (학습되는 γ, β {trainable} "
                                 "+ 학습되지 않는 이동 평균과 분산 {non_trainable})"),
    "explain.params_plain": "파라미터 수 = 학습 {trainable} + 비학습 {non_trainable} = {result}",
    "explain.macs": "MACs = {formula} = {values} = {result}",
    "explain.activations": "활성화 값 수 = {formula} = {values} = {result}",
    "explain.activations_vector": "활성화 값 수 = n = {result}",
    "explain.activations_flat": "활성화 값 수 = n = n_H_prev·n_W_prev·n_C_prev = {values} = {result}",
    "explain.other_ops": "기타 연산 = {result} (원소별 연산, MACs에 포함되지 않음)",
    "explain.field": "{r_label} = {formula} = {values} = {r};  {j_label} = j_prev·s = {j_prev}·{s} = {j}",
    "explain.field_whole": ("{r_label} = {formula} = {values} = {r};  {j_label} = {j} "
                            "(맵 전체를 덮는 윈도우 하나: f는 맵의 크기, 스트라이드 1)"),
    "explain.field_input": "r = {r}, j = {j} (입력 픽셀 하나)",
    "explain.field_whole_input": "수용장: 입력 전체 — r = {r}이(가) 입력 {n}보다 크고, 모든 출력 위치가 입력의 모든 픽셀을 봄",
    "explain.field_kept": "r = {r}, j = {j} (입력과 같음: 출력마다 한 위치를 읽음)",
    "explain.field_merged": "r = {r}, j = {j} (입력들 중 가장 넓은 수용장)",
    "explain.field_rule": "r = {r}, j = {j} (transposed conv 또는 upsample: 입력 하나가 여러 출력에 닿음)",
    "explain.totals": "합계 (summary와 같음) — 파라미터 {params}, MACs {macs}, 활성화 값 {activations}",
    "explain.unknown_layer": "{spec}에 이 이름의 층이나 블록이 없음",
    "explain.unknown_layer.allowed": "층 또는 블록 이름, 예: {names}",
}
