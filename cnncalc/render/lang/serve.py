"""The wording of `cnncalc serve`: the line with its address, and why it could not listen."""

from __future__ import annotations

EN = {
    "serve.listening": "cnncalc serve: {url} shows {spec}; it redraws when the file is saved (Ctrl-C stops)",
    "serve.cannot_listen": "cannot listen on {host}:{port} ({reason})",
    "serve.cannot_listen.allowed": "a free port, or --port 0 for any free one",
    "serve.stdin": "serve watches a file; standard input cannot be watched",
}

KO = {
    "serve.listening": "cnncalc serve: {url} 에서 {spec} 을(를) 보여 줌; 파일을 저장하면 다시 그림 (Ctrl-C로 멈춤)",
    "serve.cannot_listen": "{host}:{port} 에서 들을 수 없음 ({reason})",
    "serve.cannot_listen.allowed": "비어 있는 포트, 또는 아무 빈 포트를 고르는 --port 0",
    "serve.stdin": "serve는 파일을 지켜봄; 표준 입력은 지켜볼 수 없음",
}
