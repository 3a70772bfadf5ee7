"""The wording of `cnncalc compare`, in English and Korean: headings, metric names and the closed forms.

A closed form is a function of its record (`analysis/compare.py`): the formula in course notation,
then the same formula with the numbers filled in.
"""

from __future__ import annotations


def _stack_formula(c) -> str:
    squares = [f * f for f in c.kernels]
    if len(set(squares)) == 1:
        return f"{len(squares)}·{squares[0]}·C²"
    return "(" + " + ".join(map(str, squares)) + ")·C²"


def _stack_name(c) -> str:
    if len(set(c.kernels)) == 1:
        return f"{len(c.kernels)} × {c.kernels[0]}×{c.kernels[0]}"
    return " + ".join(f"{f}×{f}" for f in c.kernels)


def _bottleneck_formula(c) -> str:
    symbols = "C·b + f²·b·b + b·n_C" if c.expand else "C·b + f²·b·n_C"
    numbers = (f"{c.C}·{c.b} + {c.f * c.f}·{c.b}·{c.b_out} + {c.b_out}·{c.n_C}" if c.expand
               else f"{c.C}·{c.b} + {c.f * c.f}·{c.b}·{c.n_C}")
    return f"{symbols} = {numbers} = {c.weights_bottleneck:,}"


def _ratio(r) -> str:
    return f"{r.numerator}/{r.denominator} = {float(r):.4f}".rstrip("0").rstrip(".") if r.denominator != 1 \
        else str(r.numerator)


EN = {
    "compare.title": "{other} against {base} (differences and ratios: {other} − {base}, {other}/{base})",
    "compare.output": "Output: {base} against {other}: {verdict}",
    "compare.rf": "Receptive field at the output: {base} against {other}: {verdict}",
    "compare.same": "the same",
    "compare.differs": "different",
    "compare.metric": "metric",
    "compare.difference": "difference",
    "compare.ratio": "ratio",
    "compare.m.trainable": "Trainable params",
    "compare.m.weights": "  weights",
    "compare.m.biases": "  biases",
    "compare.m.other_params": "  other (batchnorm γ, β; PReLU)",
    "compare.m.non_trainable": "Non-trainable params",
    "compare.m.macs": "MACs",
    "compare.m.activations": "Activations (values)",
    "compare.m.activation_bytes": "Activation memory (float32)",
    "compare.m.depth": "Depth (weighted layers)",
    "compare.m.nonlinearities": "Non-linearities",
    "compare.stages": "Where the difference comes from, per stage (top-level rows and folded blocks, by the "
                      "n_H×n_W they output):",
    "compare.stage": "stage",
    "compare.vector": "vector",
    "compare.rows": "rows of {spec}",
    "compare.params_of": "params {spec}",
    "compare.macs_of": "MACs {spec}",
    "compare.d_params": "Δ params",
    "compare.d_macs": "Δ MACs",
    "compare.biases": lambda b0, b1, t0, t1, w0, w1, o0, o1: (
        "No biases in either: the trainable params are the weights"
        + (f" plus {o0:,} against {o1:,} batchnorm and PReLU parameters" if o0 or o1 else "")
        if not (b0 or b1) else
        f"Biases: {b0:,} against {b1:,} ({b1 - b0:+,}): the trainable params {t0:,} against {t1:,} are the weights "
        f"{w0:,} against {w1:,} plus these biases"
        + (f" plus {o0:,} against {o1:,} batchnorm and PReLU parameters" if o0 or o1 else "")
        + "; with bias: false they would be the weights alone"),
    "compare.stacked": lambda c, stack, single: (
        f"Closed form: {_stack_name(c)} ({stack}) against one {c.F}×{c.F} ({single}) on C = {c.C} channels, the "
        f"same receptive field {c.F}: {_stack_formula(c)} = {c.weights_stack:,} against {c.F * c.F}·C² = "
        f"{c.weights_single:,} weights, ratio {_ratio(c.ratio)}; "
        f"{c.nonlinearities_stack - c.nonlinearities_single:+d} non-linearities "
        f"({c.nonlinearities_stack} against {c.nonlinearities_single})"),
    "compare.separable": lambda c, separable, standard: (
        f"Closed form: depthwise-separable {c.f}×{c.f} ({separable}) against a standard {c.f}×{c.f} ({standard}), "
        f"C = {c.C} → n_C = {c.n_C}: f²·C + C·n_C = {c.f * c.f}·{c.C} + {c.C}·{c.n_C} = {c.weights_separable:,} "
        f"against f²·C·n_C = {c.f * c.f}·{c.C}·{c.n_C} = {c.weights_standard:,} weights, ratio 1/n_C + 1/f² = "
        f"1/{c.n_C} + 1/{c.f * c.f} = {_ratio(c.ratio)} (the MACs in the same ratio)"),
    "compare.bottleneck": lambda c, bottleneck, standard: (
        f"Closed form: a 1×1 bottleneck ({bottleneck}) against one {c.f}×{c.f} ({standard}) on C = {c.C}, "
        f"b = {c.b}: {_bottleneck_formula(c)} against f²·C·n_C = {c.f * c.f}·{c.C}·{c.n_C} = "
        f"{c.weights_standard:,} weights, ratio {_ratio(c.ratio)}"),
}

KO = {
    "compare.title": "{base} 대비 {other} (차이와 비율: {other} − {base}, {other}/{base})",
    "compare.output": "출력: {base} 대 {other}: {verdict}",
    "compare.rf": "출력의 수용장: {base} 대 {other}: {verdict}",
    "compare.same": "같음",
    "compare.differs": "다름",
    "compare.metric": "항목",
    "compare.difference": "차이",
    "compare.ratio": "비율",
    "compare.m.trainable": "학습 파라미터",
    "compare.m.weights": "  가중치",
    "compare.m.biases": "  편향",
    "compare.m.other_params": "  기타 (배치 정규화 γ, β; PReLU)",
    "compare.m.non_trainable": "학습되지 않는 파라미터",
    "compare.m.macs": "MACs",
    "compare.m.activations": "활성화 (값 개수)",
    "compare.m.activation_bytes": "활성화 메모리 (float32)",
    "compare.m.depth": "깊이 (가중치가 있는 층)",
    "compare.m.nonlinearities": "비선형 활성화 함수",
    "compare.stages": "차이가 생기는 곳, 단계별 (최상위 층과 접힌 블록을 출력 n_H×n_W로 묶음):",
    "compare.stage": "단계",
    "compare.vector": "벡터",
    "compare.rows": "{spec}의 층",
    "compare.params_of": "파라미터 {spec}",
    "compare.macs_of": "MACs {spec}",
    "compare.d_params": "Δ 파라미터",
    "compare.d_macs": "Δ MACs",
    "compare.biases": lambda b0, b1, t0, t1, w0, w1, o0, o1: (
        "양쪽 모두 편향 없음: 학습 파라미터는 가중치뿐"
        + (f" (여기에 배치 정규화와 PReLU 파라미터 {o0:,} 대 {o1:,})" if o0 or o1 else "")
        if not (b0 or b1) else
        f"편향: {b0:,} 대 {b1:,} ({b1 - b0:+,}): 학습 파라미터 {t0:,} 대 {t1:,}는 가중치 {w0:,} 대 {w1:,}에 "
        f"이 편향을 더한 것"
        + (f", 여기에 배치 정규화와 PReLU 파라미터 {o0:,} 대 {o1:,}" if o0 or o1 else "")
        + "; bias: false이면 가중치만 남음"),
    "compare.stacked": lambda c, stack, single: (
        f"닫힌 형태: {_stack_name(c)} ({stack}) 대 {c.F}×{c.F} 하나 ({single}), 채널 C = {c.C}, 같은 수용장 "
        f"{c.F}: {_stack_formula(c)} = {c.weights_stack:,} 대 {c.F * c.F}·C² = {c.weights_single:,} 가중치, 비율 "
        f"{_ratio(c.ratio)}; 비선형 활성화 함수 {c.nonlinearities_stack - c.nonlinearities_single:+d}개 "
        f"({c.nonlinearities_stack} 대 {c.nonlinearities_single})"),
    "compare.separable": lambda c, separable, standard: (
        f"닫힌 형태: 깊이별 분리 {c.f}×{c.f} 합성곱 ({separable}) 대 일반 {c.f}×{c.f} 합성곱 ({standard}), "
        f"C = {c.C} → n_C = {c.n_C}: f²·C + C·n_C = {c.f * c.f}·{c.C} + {c.C}·{c.n_C} = {c.weights_separable:,} "
        f"대 f²·C·n_C = {c.f * c.f}·{c.C}·{c.n_C} = {c.weights_standard:,} 가중치, 비율 1/n_C + 1/f² = "
        f"1/{c.n_C} + 1/{c.f * c.f} = {_ratio(c.ratio)} (MACs도 같은 비율)"),
    "compare.bottleneck": lambda c, bottleneck, standard: (
        f"닫힌 형태: 1×1 병목 (bottleneck) ({bottleneck}) 대 {c.f}×{c.f} 하나 ({standard}), C = {c.C}, "
        f"b = {c.b}: {_bottleneck_formula(c)} 대 f²·C·n_C = {c.f * c.f}·{c.C}·{c.n_C} = "
        f"{c.weights_standard:,} 가중치, 비율 {_ratio(c.ratio)}"),
}
