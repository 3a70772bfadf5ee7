"""The words of the tables: column headings (full and abbreviated), titles, the Total label and the
line that says which columns a narrow terminal left out. Korean after ../shared/GLOSSARY-ko.md."""

EN = {
    # column headings, keyed by the field name every format shares (render.columns.COLUMNS)
    "tables.col.name": "Layer",
    "tables.col.type": "Type",
    "tables.col.reads": "Reads",
    "tables.col.input_shapes": "Input",
    "tables.col.output_shape": "Output",
    "tables.col.activations": "Activations",
    "tables.col.activation_bytes": "Act. bytes",
    "tables.col.trainable": "Trainable",
    "tables.col.non_trainable": "Non-trainable",
    "tables.col.params": "Params",
    "tables.col.macs": "MACs",
    "tables.col.flops": "FLOPs",
    "tables.col.other_ops": "Other ops",
    "tables.col.receptive_field": "RF",
    "tables.rf_whole": "whole input",
    "tables.col.jump": "Jump",
    # the same headings abbreviated, for a narrow terminal (before any column is left out)
    "tables.short.activations": "Acts",
    "tables.short.activation_bytes": "Bytes",
    "tables.short.trainable": "Train.",
    "tables.short.non_trainable": "Non-tr.",
    "tables.short.other_ops": "Other",
    # Andrew Ng's table (--view course)
    "tables.course.output_shape": "Activation shape",
    "tables.course.activations": "Activation size",
    "tables.course.trainable": "# parameters",
    # the titles of the commands' tables
    "tables.title.shapes": "shapes (n_H×n_W×n_C)",
    "tables.title.params": "parameters",
    "tables.title.flops": "MACs and FLOPs",
    "tables.title.summary": "summary",
    "tables.title.course": "course view (activation shape, activation size, parameters)",
    "tables.total": "Total",
    "tables.left_out": lambda count, width, names: (
        f"{'1 column' if count == 1 else f'{count} columns'} left out to fit {width} columns: {names} "
        "(--wide shows all, --columns chooses)"),
    # the epoch table of `cnncalc train`
    "tables.train.title": "per epoch",
    "tables.train.left_out": lambda count, width, names: (
        f"{'1 column' if count == 1 else f'{count} columns'} left out to fit {width} columns: {names} "
        "(a wider terminal shows them)"),
    "tables.train.epoch": "epoch",
    "tables.train.train_loss": "train loss",
    "tables.train.train_acc": "train acc",
    "tables.train.val_loss": "val loss",
    "tables.train.val_acc": "val acc",
    "tables.train.lr": "lr",
    "tables.train.images_per_s": "img/s",
}

KO = {
    "tables.col.name": "층",
    "tables.col.type": "종류",
    "tables.col.reads": "입력 층",
    "tables.col.input_shapes": "입력",
    "tables.col.output_shape": "출력",
    "tables.col.activations": "활성화 수",
    "tables.col.activation_bytes": "활성화 바이트",
    "tables.col.trainable": "학습 파라미터",
    "tables.col.non_trainable": "비학습 파라미터",
    "tables.col.params": "파라미터 수",
    "tables.col.macs": "MACs",
    "tables.col.flops": "FLOPs",
    "tables.col.other_ops": "기타 연산량",
    "tables.col.receptive_field": "수용장",
    "tables.rf_whole": "입력 전체",
    "tables.col.jump": "점프",
    "tables.short.activations": "활성화",
    "tables.short.activation_bytes": "바이트",
    "tables.short.trainable": "학습",
    "tables.short.non_trainable": "비학습",
    "tables.short.other_ops": "기타",
    "tables.course.output_shape": "활성화 맵 크기",
    "tables.course.activations": "활성화 수",
    "tables.course.trainable": "파라미터 수",
    "tables.title.shapes": "크기 (n_H×n_W×n_C)",
    "tables.title.params": "파라미터",
    "tables.title.flops": "MACs와 FLOPs",
    "tables.title.summary": "요약",
    "tables.title.course": "강의 표 (활성화 맵 크기, 활성화 수, 파라미터 수)",
    "tables.total": "합계",
    "tables.left_out": lambda count, width, names: (
        f"{width}열에 맞추려고 {count}개 열을 뺌: {names} (--wide는 모두 보여 줌, --columns로 고름)"),
    "tables.train.title": "에폭별",
    "tables.train.left_out": lambda count, width, names: (
        f"{width}열에 맞추려고 {count}개 열을 뺌: {names} (더 넓은 터미널에서 보임)"),
    "tables.train.epoch": "에폭",
    "tables.train.train_loss": "학습 손실",
    "tables.train.train_acc": "학습 정확도",
    "tables.train.val_loss": "검증 손실",
    "tables.train.val_acc": "검증 정확도",
    "tables.train.lr": "학습률",
    "tables.train.images_per_s": "이미지/s",
}
