"""The wording of `cnncalc draw`: its errors and the receptive field's line on the input's label."""

from __future__ import annotations

EN = {
    "draw.unknown_layer": "no layer of the spec has this name",
    "draw.unknown_layer_allowed": "a layer's name as the tables print it; close names: {close}",
    "draw.no_field": "this layer has no receptive field on an image input",
    "draw.no_field_allowed": "a layer after an n_H×n_W×n_C input whose receptive field the tables print",
    "draw.suffix": "the output file's suffix names no format",
    "draw.suffix_allowed": ".svg, .html or .mmd",
    "draw.field_line": "RF of {layer}: {size}",
    "draw.write": "cannot write the picture: {reason}",
    "draw.write_allowed": "a file in a folder that exists and may be written",
}

KO = {
    "draw.unknown_layer": "명세에 이 이름의 층이 없음",
    "draw.unknown_layer_allowed": "표에 나오는 층 이름; 비슷한 이름: {close}",
    "draw.no_field": "이 층은 이미지 입력에 대한 수용 영역이 없음",
    "draw.no_field_allowed": "n_H×n_W×n_C 입력 뒤의 층으로, 표에 수용 영역이 나오는 층",
    "draw.suffix": "출력 파일의 확장자로 형식을 알 수 없음",
    "draw.suffix_allowed": ".svg, .html 또는 .mmd",
    "draw.field_line": "{layer}의 수용 영역: {size}",
    "draw.write": "그림을 쓸 수 없음: {reason}",
    "draw.write_allowed": "있고 쓸 수 있는 폴더 안의 파일",
}
