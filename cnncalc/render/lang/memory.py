"""The wording of `cnncalc memory` and of the memory line `cnncalc train` ends with, in English and Korean.

The numbers come from analysis/memory.py's MemoryPlan (bytes, ints); render/memory.py writes them in
human units (KiB, MiB, GiB: powers of 1024) beside the exact byte counts.
"""

from __future__ import annotations

EN = {
    "memory.title": "Training memory of {spec}: batch {batch}, optimiser {optimizer}",
    "memory.h.layer": "Layer",
    "memory.h.kind": "Type",
    "memory.h.outputs": "Outputs",
    "memory.h.kept": "Kept for backward",
    "memory.h.kept_short": "Kept",
    "memory.h.params": "Params",
    "memory.h.grads": "Grads",
    "memory.h.optimizer": "Optimiser",
    "memory.h.optimizer_short": "Opt.",
    "memory.h.dx": "Input grads",
    "memory.h.dx_short": "dx",
    "memory.h.workspace": "Workspace",
    "memory.h.workspace_short": "Ws.",
    "memory.h.total": "Total",
    "memory.total": "Total",
    "memory.h.part": "Part of the peak",
    "memory.h.bytes": "Size",
    "memory.h.exact": "Bytes",
    "memory.p.outputs": "layer outputs (read again by backward)",
    "memory.p.kept": "masks, argmax indices, batchnorm statistics",
    "memory.p.params": "parameters and running statistics",
    "memory.p.grads": "parameter gradients",
    "memory.p.optimizer": "optimiser state",
    "memory.p.dx_shared": "input gradients: one shared block",
    "memory.p.workspace": "layers' own workspaces",
    "memory.p.arena": "scratch arena (conv, batchnorm)",
    "memory.p.batch": "input batch, labels, loss buffers",
    "memory.peak": "Peak: {peak} ({exact:,} bytes): every buffer is allocated once, when the network is built, "
                   "and kept for the run.",
    "memory.dx_note": "Input gradients: {unshared} if every layer kept its own; the engine places them in one block "
                      "of {shared}, buffers that are never alive at the same time sharing bytes.",
    "memory.arena_note": "Arena: the largest lease, {layer}'s; the layers run one at a time and share it.",
    "memory.no_arena": "Arena: no layer leases scratch.",
    "memory.optimizers": "Optimiser state: sgd none; momentum one velocity per parameter; adam two moments.",
    "memory.assume": "Assumes float32 values (int64 argmax, float64 batchnorm scratch), the conv workspaces sized "
                     "for {lanes} Numba threads, conv paths: {paths}.",
    "memory.assume_max": "A path max(…) is a layer that tuning measures when training starts: counted at its "
                         "largest candidate, an upper bound; CNNCALC_CONV_PATH=direct makes the plan exact.",
    "memory.no_conv": "none",
    "memory.left_out": lambda count, width, names: (
        f"{'1 column' if count == 1 else f'{count} columns'} left out to fit {width} columns: {names} "
        "(--wide shows all)"),
    "memory.rows_note": "A layer's total counts its input-gradient buffers as its own; the peak counts the shared "
                        "block once, with the arena and the batch.",
    "memory.budget": "Budget {budget} = {exact:,} bytes ({base}): the largest batch is {m}, peak {fit} ({fit_exact:,} "
                     "bytes); batch {m1} would need {over} ({over_exact:,} bytes).",
    "memory.base_decimal": "KB, MB, GB: powers of 1000",
    "memory.base_binary": "KiB, MiB, GiB: powers of 1024",
    "memory.base_bytes": "bytes",
    "memory.train": "memory: planned peak {planned} (cnncalc memory), measured {measured} ({ratio:+.1%}: the "
                    "arrays the network holds, plus tracemalloc's peak of what the run allocated after the warm-up)",
    "memory.train_planned": "memory: planned peak {planned} (cnncalc memory); not measured (tracemalloc was "
                            "stopped during the run)",
}

KO = {
    "memory.title": "{spec}의 학습 메모리: 배치 크기 {batch}, 옵티마이저 {optimizer}",
    "memory.h.layer": "층",
    "memory.h.kind": "종류",
    "memory.h.outputs": "출력",
    "memory.h.kept": "역전파용 보관",
    "memory.h.kept_short": "보관",
    "memory.h.params": "파라미터",
    "memory.h.grads": "기울기",
    "memory.h.optimizer": "옵티마이저",
    "memory.h.optimizer_short": "옵티.",
    "memory.h.dx": "입력 기울기",
    "memory.h.dx_short": "dx",
    "memory.h.workspace": "작업 공간",
    "memory.h.workspace_short": "작업",
    "memory.h.total": "합계",
    "memory.total": "합계",
    "memory.h.part": "최대 사용량의 구성",
    "memory.h.bytes": "크기",
    "memory.h.exact": "바이트",
    "memory.p.outputs": "층의 출력 (역전파가 다시 읽음)",
    "memory.p.kept": "마스크, 최대 풀링 인덱스, 배치 정규화 통계",
    "memory.p.params": "파라미터와 이동 평균 통계",
    "memory.p.grads": "파라미터 기울기",
    "memory.p.optimizer": "옵티마이저 상태",
    "memory.p.dx_shared": "입력 기울기: 공유 블록 하나",
    "memory.p.workspace": "층별 작업 공간",
    "memory.p.arena": "스크래치 아레나 (합성곱, 배치 정규화)",
    "memory.p.batch": "입력 배치, 레이블, 손실 버퍼",
    "memory.peak": "최대 사용량: {peak} ({exact:,} 바이트). 모든 버퍼는 네트워크를 만들 때 한 번 할당되어 학습 내내 "
                   "유지된다.",
    "memory.dx_note": "입력 기울기: 층마다 따로 두면 {unshared}이지만, 엔진은 동시에 살아 있지 않은 버퍼끼리 바이트를 "
                      "나누어 {shared} 블록 하나에 배치한다.",
    "memory.arena_note": "아레나: 가장 큰 임대인 {layer}의 크기. 층은 하나씩 실행되므로 이를 함께 쓴다.",
    "memory.no_arena": "아레나: 스크래치를 임대하는 층이 없음.",
    "memory.optimizers": "옵티마이저 상태: sgd는 없음, momentum은 파라미터마다 속도 하나, adam은 모멘트 둘.",
    "memory.assume": "가정: float32 값 (argmax는 int64, 배치 정규화 스크래치는 float64), 합성곱 작업 공간은 Numba "
                     "스레드 {lanes}개 기준, 합성곱 경로: {paths}.",
    "memory.assume_max": "max(…) 경로는 학습 시작 때 튜닝이 측정하는 층이다: 후보 중 가장 큰 작업 공간으로 세므로 "
                         "상한이며, CNNCALC_CONV_PATH=direct로 하면 계획이 정확해진다.",
    "memory.no_conv": "없음",
    "memory.left_out": lambda count, width, names: (
        f"{width}칸에 맞추려고 {count}개 열을 뺐다: {names} (--wide로 모두 표시)"),
    "memory.rows_note": "층별 합계는 입력 기울기 버퍼를 그 층의 것으로 센다. 최대 사용량은 공유 블록을 한 번만 세고 "
                        "아레나와 배치를 더한다.",
    "memory.budget": "예산 {budget} = {exact:,} 바이트 ({base}): 가장 큰 배치 크기는 {m}, 최대 사용량 {fit} "
                     "({fit_exact:,} 바이트). 배치 크기 {m1}이면 {over} ({over_exact:,} 바이트)가 필요하다.",
    "memory.base_decimal": "KB, MB, GB: 1000의 거듭제곱",
    "memory.base_binary": "KiB, MiB, GiB: 1024의 거듭제곱",
    "memory.base_bytes": "바이트",
    "memory.train": "메모리: 계획한 최대 사용량 {planned} (cnncalc memory), 측정값 {measured} ({ratio:+.1%}: "
                    "네트워크가 가진 배열에 워밍업 뒤 학습이 더 할당한 양의 최대치(tracemalloc)를 더함)",
    "memory.train_planned": "메모리: 계획한 최대 사용량 {planned} (cnncalc memory). 학습 중 tracemalloc이 "
                            "멈춰 측정하지 못함",
}
