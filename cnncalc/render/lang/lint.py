"""The wording of `cnncalc lint`: each lint's reason and fix, in English and Korean.

A reason or fix is a function of the finding's layer and its record (`analysis/lint.py`), so the
numbers it quotes are the record's; the arithmetic is written out as a student would check it.
"""

from __future__ import annotations

import dataclasses


def _positions(positions, unread: int) -> str:
    shown = ", ".join(str(p) for p in positions)
    return shown + (", …" if unread > len(positions) else "")


def _same_axes(axes) -> bool:
    """Both axes with the same numbers: one sentence says 'rows and columns'."""
    return len(axes) == 2 and dataclasses.replace(axes[0], axis=axes[1].axis) == axes[1]


def _dense_formula(d) -> str:
    return (f"({d.n_H}·{d.n_W}·{d.n_C} + 1)·{d.units}" if d.bias else f"{d.n_H}·{d.n_W}·{d.n_C}·{d.units}") \
        + f" = {d.params_now:,}"


def _gap_formula(d) -> str:
    return (f"({d.n_C} + 1)·{d.units}" if d.bias else f"{d.n_C}·{d.units}") + f" = {d.params_gap:,}"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


_EN_UNITS = {"n_H": ("row", "rows"), "n_W": ("column", "columns")}
_KO_UNITS = {"n_H": "행", "n_W": "열"}


def _en_gaps(d) -> str:
    axes = d.axes
    if _same_axes(axes):
        a = axes[0]
        return (f"stride {a.s} is larger than the {a.f_eff}-wide window: {a.unread:,} of {a.n} rows and as many "
                f"columns are never read (rows and columns {_positions(a.positions, a.unread)})")
    parts = [f"along {a.axis} stride {a.s} > window {a.f_eff}: {a.unread:,} of {a.n} {_EN_UNITS[a.axis][1]} never "
             f"read ({_EN_UNITS[a.axis][1]} {_positions(a.positions, a.unread)})" for a in axes]
    return "; ".join(parts)


def _ko_gaps(d) -> str:
    axes = d.axes
    if _same_axes(axes):
        a = axes[0]
        return (f"스트라이드 {a.s}가 윈도 크기 {a.f_eff}보다 큼: {a.n}개 행 중 {a.unread:,}개와 같은 수의 열이 "
                f"한 번도 읽히지 않음 (행·열 {_positions(a.positions, a.unread)})")
    parts = [f"{a.axis} 방향 스트라이드 {a.s} > 윈도 {a.f_eff}: {a.n}개 {_KO_UNITS[a.axis]} 중 {a.unread:,}개가 "
             f"읽히지 않음 ({_KO_UNITS[a.axis]} {_positions(a.positions, a.unread)})" for a in axes]
    return "; ".join(parts)


def _en_past(d) -> str:
    axes = d.axes if not _same_axes(d.axes) else d.axes[:1]
    both = " (and the same along n_W)" if _same_axes(d.axes) else ""
    parts = [f"ceil mode's last window along {a.axis} covers positions {a.start}…{a.end}, {a.past} past the end of "
             f"the {a.n}-long map" + (f" and its padding {a.p_b}" if a.p_b else "")
             + f"{both}: that {d.kind} window reads {a.f_eff - a.past} of its {a.f_eff} positions" for a in axes]
    return "; ".join(parts)


def _ko_past(d) -> str:
    axes = d.axes if not _same_axes(d.axes) else d.axes[:1]
    both = " (n_W 방향도 같음)" if _same_axes(d.axes) else ""
    parts = [f"ceil mode의 {a.axis} 방향 마지막 윈도가 위치 {a.start}…{a.end}를 덮어, 크기 {a.n}인 특징 맵"
             + (f"과 패딩 {a.p_b}" if a.p_b else "") + f"의 끝을 {a.past}만큼 넘음{both}: 그 {d.kind} 윈도는 "
             f"{a.f_eff}개 위치 중 {a.f_eff - a.past}개만 읽음" for a in axes]
    return "; ".join(parts)


def _n_out_after(d) -> str:
    return ", ".join(f"{a.axis} = {a.n_out - 1}" for a in d.axes)


EN = {
    "lint.title": "{spec} — lint",
    "lint.fix": "fix",
    "lint.summary": "{found} finding(s), {silenced} silenced",
    "lint.none": "no findings",
    "lint.strict": "(--strict: exit code 1 when any finding remains)",
    "lint.bias-before-bn.reason": lambda layer, d: (
        f"{layer}'s {d.biases:,} biases are cancelled by {d.norm}, which subtracts the batch mean and adds its own "
        f"shift β: {d.biases:,} parameters wasted"),
    "lint.bias-before-bn.fix": lambda layer, d: f"bias: false on {layer} (saves {d.biases:,} parameters)",
    "lint.dense-heavy.reason": lambda layer, d: (
        f"dense layers hold {d.dense_params:,} of the {d.total_params:,} trainable parameters "
        f"({_share(d.dense_params, d.total_params)}); {layer} reads the flattened {d.n_H}×{d.n_W}×{d.n_C} map: "
        f"{_dense_formula(d)}"),
    "lint.dense-heavy.fix": lambda layer, d: (
        f"global_avgpool instead of {d.flatten}: {layer} would read {d.n_C} values, {_gap_formula(d)} parameters; "
        f"dense layers {d.dense_params_gap:,} of {d.total_params_gap:,} "
        f"({_share(d.dense_params_gap, d.total_params_gap)})"),
    "lint.stride-over-kernel.reason": lambda d, **_: _en_gaps(d),
    "lint.stride-over-kernel.fix": lambda d, **_: (
        f"a stride of at most {max(a.f_eff for a in d.axes)}, or a kernel of at least "
        f"{max(a.s for a in d.axes)}, so that the windows touch"),
    "lint.small-receptive-field.reason": lambda layer, d: (
        f"the features {layer} passes to the classifier (from {d.source}) each see {d.r_H}×{d.r_W} of the "
        f"{d.n_H}×{d.n_W} input: no feature relates parts of the image farther apart than that"),
    "lint.small-receptive-field.fix": lambda d, **_: (
        f"{d.convs_needed} more 3×3 conv(s) at {d.source}'s resolution (each adds 2·j = "
        f"{2 * d.j_H}×{2 * d.j_W}), or downsample earlier"),
    "lint.dropout-before-bn.reason": lambda layer, d: (
        f"{layer} (rate {d.rate}) feeds {d.norm}: batchnorm's running variance is learned on dropped, rescaled "
        f"values that inference never sees (the variance shift)"),
    "lint.dropout-before-bn.fix": lambda layer, d: (
        f"move {layer} after {d.norm}, after the last batchnorm (e.g. just before the classifier)"),
    "lint.pool-past-end.reason": lambda d, **_: _en_past(d),
    "lint.pool-past-end.fix": lambda d, **_: (
        f"ceil_mode: false drops the partial window ({_n_out_after(d)}); keep it only if the network "
        f"you follow does (PyTorch clips the window)"),
    "lint.unused-argument.reason": lambda d, **_: (
        f"block '{d.block}': argument ${d.argument} is declared but no layer of the block uses it"),
    "lint.unused-argument.fix": lambda d, **_: f"use ${d.argument} in the block's layers or remove it from args",
}

KO = {
    "lint.title": "{spec} — lint",
    "lint.fix": "수정",
    "lint.summary": "발견 {found}건, 무시 {silenced}건",
    "lint.none": "발견된 문제 없음",
    "lint.strict": "(--strict: 남은 발견이 있으면 종료 코드 1)",
    "lint.bias-before-bn.reason": lambda layer, d: (
        f"{layer}의 편향 {d.biases:,}개는 {d.norm}이 상쇄함 (배치 정규화는 배치 평균을 빼고 자체 이동 β를 더함): "
        f"파라미터 {d.biases:,}개가 낭비됨"),
    "lint.bias-before-bn.fix": lambda layer, d: f"{layer}에 bias: false (파라미터 {d.biases:,}개 절약)",
    "lint.dense-heavy.reason": lambda layer, d: (
        f"완전 연결층이 학습 파라미터 {d.total_params:,}개 중 {d.dense_params:,}개 "
        f"({_share(d.dense_params, d.total_params)})를 차지함; {layer}는 펼친 {d.n_H}×{d.n_W}×{d.n_C} 특징 맵을 "
        f"읽음: {_dense_formula(d)}"),
    "lint.dense-heavy.fix": lambda layer, d: (
        f"{d.flatten} 대신 global_avgpool: {layer}는 {d.n_C}개 값을 읽고 파라미터는 {_gap_formula(d)}개; "
        f"완전 연결층은 {d.total_params_gap:,}개 중 {d.dense_params_gap:,}개 "
        f"({_share(d.dense_params_gap, d.total_params_gap)})"),
    "lint.stride-over-kernel.reason": lambda d, **_: _ko_gaps(d),
    "lint.stride-over-kernel.fix": lambda d, **_: (
        f"스트라이드를 {max(a.f_eff for a in d.axes)} 이하로, 또는 커널을 {max(a.s for a in d.axes)} 이상으로 "
        f"하여 윈도가 서로 맞닿게 함"),
    "lint.small-receptive-field.reason": lambda layer, d: (
        f"{layer}가 분류기에 넘기는 특징({d.source}에서)은 각각 {d.n_H}×{d.n_W} 입력 중 {d.r_H}×{d.r_W}만 봄 "
        f"(수용장): 그보다 멀리 떨어진 이미지 부분을 잇는 특징이 없음"),
    "lint.small-receptive-field.fix": lambda d, **_: (
        f"{d.source}의 해상도에서 3×3 합성곱 {d.convs_needed}개 추가 (하나마다 2·j = {2 * d.j_H}×{2 * d.j_W} "
        f"늘어남), 또는 더 일찍 다운샘플링"),
    "lint.dropout-before-bn.reason": lambda layer, d: (
        f"{layer} (비율 {d.rate})가 {d.norm}에 입력됨: 배치 정규화의 이동 분산이 추론 때는 없는 드롭아웃된 값으로 "
        f"학습됨 (분산 이동, variance shift)"),
    "lint.dropout-before-bn.fix": lambda layer, d: (
        f"{layer}를 {d.norm} 뒤, 마지막 배치 정규화 뒤로 옮김 (예: 분류기 바로 앞)"),
    "lint.pool-past-end.reason": lambda d, **_: _ko_past(d),
    "lint.pool-past-end.fix": lambda d, **_: (
        f"ceil_mode: false로 부분 윈도를 버림 ({_n_out_after(d)}); 따르는 네트워크가 그렇게 할 때만 유지 "
        f"(PyTorch는 윈도를 잘라냄)"),
    "lint.unused-argument.reason": lambda d, **_: (
        f"블록 '{d.block}': 인자 ${d.argument}가 선언되었지만 블록의 어느 층도 쓰지 않음"),
    "lint.unused-argument.fix": lambda d, **_: f"블록의 층에서 ${d.argument}를 쓰거나 args에서 지움",
}
