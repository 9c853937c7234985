"""stdout as a terminal shows it, with known timing fields masked: how runs' stdout is compared.

Progress bars (Keras's ``model.fit`` at its default ``verbose``, tqdm) redraw one line many
times with ``\\r`` and ``\\b``; the frames drawn, and the timings in them, differ run to run
although every number the run computed is equal. A terminal shows only the last frame, so that
is what is compared: each line is rendered (``\\r`` back to its start, ``\\b`` one left, ANSI
styles dropped, a redrawn line's trailing padding dropped), then the timing fields progress bars
print are masked. Everything else (a loss, an accuracy, any other character) compares exactly.

>>> frames = "\\r 1/64 ━ 609ms/step - loss: 2.8385\\b\\b\\b\\r64/64 ━━━━ 1s 3ms/step - loss: 0.2911  "
>>> view(frames)
'64/64 ━━━━ <time> <time>/step - loss: 0.2911'
>>> view("64/64 ━━━━ 2s 12ms/step - loss: 0.2911") == view(frames)
True
>>> view("64/64 ━━━━ 2s 12ms/step - loss: 0.2912") == view(frames)   # a real difference
False
>>> view("100%|██████████| 50/50 [00:01<00:00, 45.12it/s]")
'100%|██████████| 50/50 [<time><<time>, <time>/s]'
"""

from __future__ import annotations

import re

MASK = "<time>"
_UNIT = r"(?:ns|us|µs|ms|s)"
# The timing fields of known progress bars, each with its context so that nothing else matches.
TIMINGS = re.compile(
    "|".join(
        [
            # Keras 3 and tf-keras, verbose=1: "1s 3ms/step"; the elapsed time before a per-unit rate
            rf"(?<![\w.])\d+(?:\.\d+)?(?:ms|s|m|h)(?=\s+\d+(?:\.\d+)?{_UNIT}/(?:step|sample|epoch))",
            rf"(?<![\w.])\d+(?:\.\d+)?{_UNIT}(?=/(?:step|sample|epoch)\b)",
            r"(?<=ETA: )(?:\d+(?::\d{2})+|\d+(?:\.\d+)?(?:ms|s|m|h))(?![\w.])",
            # tqdm: "[00:01<00:02, 45.12it/s]", "50it [00:01, 45.1it/s]", "3.21s/it", "1.23kbatch/s"
            r"(?<=\[)\d+:\d{2}(?::\d{2})?(?=[<,\]])",
            r"(?<=<)(?:\d+:\d{2}(?::\d{2})?|\?)(?=[,\]])",
            r"(?<=, )(?:\d+(?:\.\d+)?[kMGTP]?|\?)[A-Za-z]*(?=/s[,\]])",
            r"(?<=, )\d+(?:\.\d+)?s(?=/[A-Za-z]+[,\]])",
        ]
    ),
)
# Keras verbose=2: "175/175 - 1s - 5ms/step - loss: ..." (tf-keras: "64/64 - 1s - loss: ... - 12ms/epoch")
_ELAPSED = re.compile(r"^(\s*\d+/\d+ - )\d+(?:\.\d+)?(?:ms|s|m|h)(?= - )")
_RATE = re.compile(r"\d(?:ns|us|µs|ms|s)/(?:step|sample|epoch)\b")
# A frame that is a progress bar: a counter "12/64", a percentage "45%|", or a rate.
_BAR = re.compile(r"\d+/\d+|\d+%\||/s\b|/step\b|/it\b|ETA:")
_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")


def render(line: str) -> str:
    """What a terminal shows of one redrawn line (no ``\\n`` in it). A line with no ``\\b``, no
    escape sequence and no ``\\r`` before its end is not redrawn: it is returned as it is, so
    that ``"done\\r"`` (a CRLF line ending) still differs from ``"done"``.

    Only a progress bar is rendered: every frame of the line a counter (``12/64``), a percentage
    (``45%|``) or a rate, with no tab or wide character (whose width a terminal decides). Any
    other line, ``"validating... val_loss 0.4123\\rdone"`` say, is compared as it is.

    >>> render(" 1/2 ━ 3ms/step\\r\\x1b[1m2/2\\x1b[0m ━━ 2ms/step"), render("12/64 [=>..]" + "\\b" * 12 + "64/64 [====]")
    ('2/2 ━━ 2ms/step', '64/64 [====]')
    >>> render("val_loss 0.4123\\rdone"), render("done\\r")
    ('val_loss 0.4123\\rdone', 'done\\r')
    """
    if "\b" not in line and "\r" not in line.rstrip("\r"):
        return line
    if not _progress(line):
        return line  # a line rewritten for another reason: every byte counts
    cells: list[str] = []
    col = 0
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\r":
            col = 0
        elif c == "\b":
            col = max(0, col - 1)
        elif c == "\x1b":
            m = _CSI.match(line, i)
            if m is None:  # a two-character escape (ESC 7, ESC c...): nothing to show
                i += 2
                continue
            col = _csi(cells, col, m.group(1), m.group(2))
            i = m.end()
            continue
        else:
            if col >= len(cells):
                cells.extend(" " * (col - len(cells) + 1))
            cells[col] = c
            col += 1
        i += 1
    return "".join(cells).rstrip(" ")  # a redrawn line is padded to the width of the frame before


def _progress(line: str) -> bool:
    """Every frame of a redrawn line is a progress bar's, and every cell one column wide."""
    import unicodedata

    if "\t" in line or any(unicodedata.east_asian_width(c) in "WF" for c in line):
        return False
    plain = _CSI.sub("", line).replace("\b", "")
    frames = [f for f in plain.split("\r") if f.strip()]
    return bool(frames) and all(_BAR.search(f) for f in frames)


def _csi(cells: list[str], col: int, params: str, final: str) -> int:
    """Apply one ``ESC [ params final`` sequence to the line; return the new column."""
    n = int(params.split(";")[0]) if params[:1].isdigit() else None
    if final == "K":  # erase in line: 0 to the end, 1 to the start, 2 all of it
        if not n:
            del cells[col:]
        elif n == 1:
            cells[: col + 1] = " " * min(col + 1, len(cells))
        else:
            cells.clear()
    elif final == "G":
        col = max(0, (n or 1) - 1)
    elif final == "C":
        col += n or 1
    elif final == "D":
        col = max(0, col - (n or 1))
    return col  # SGR (styles, colours) and the rest show nothing


def mask(line: str) -> str:
    """``line`` with the timing fields of Keras's and tqdm's progress bars replaced by ``<time>``.

    >>> mask("Epoch 3/3 - 1s 3ms/step - loss: 0.25 - ETA: 2s")
    'Epoch 3/3 - <time> <time>/step - loss: 0.25 - ETA: <time>'
    """
    if _RATE.search(line):  # a Keras line: its "N/N - 1s - " is the elapsed time
        line = _ELAPSED.sub(rf"\g<1>{MASK}", line)
    return TIMINGS.sub(MASK, line)


def view(line: str) -> str:
    """How a line is compared: rendered as a terminal shows it, timings masked."""
    return mask(render(line))


class ViewHash:
    """A digest of stdout as it is compared: each line's :func:`view`, fed as bytes arrive (a line
    may come in pieces); the last line need not end with a newline.

    >>> a, b = ViewHash(), ViewHash()
    >>> a.update(b"12/64 [=] 3ms/step\\r64/64 [==] 1"); a.update(b"s 2ms/step - loss: 0.5\\ndone")
    >>> b.update(b"64/64 [==] 9s 8ms/step - loss: 0.5\\ndone")
    >>> a.hexdigest() == b.hexdigest()
    True
    """

    def __init__(self) -> None:
        import hashlib

        self._hash = hashlib.blake2b(digest_size=16)
        self._partial = b""

    def update(self, data: bytes) -> None:
        *done, self._partial = (self._partial + data).split(b"\n")
        for line in done:
            self._line(line, b"\n")

    def _line(self, line: bytes, end: bytes) -> None:
        shown = view(line.decode("utf-8", "surrogateescape"))
        self._hash.update(shown.encode("utf-8", "surrogateescape") + end)

    def hexdigest(self) -> str:
        if self._partial:
            self._line(self._partial, b"")
            self._partial = b""
        return self._hash.hexdigest()
