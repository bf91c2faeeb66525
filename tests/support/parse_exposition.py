"""Parses expositions with the reference Python prometheus_client parsers.

A worker for the Rust tests (tests/common/mod.rs): it reads requests from stdin,
each a header line "<format> <byte length>\n" followed by that many bytes of
exposition text, where <format> is "openmetrics" (the strict OpenMetrics 1.0
parser) or "text" (the Prometheus text 0.0.4 parser), and answers each with one
JSON line: {"ok": true, "families": [...]} or {"ok": false, "error": "..."}.
Sample values are sent as strings so that +Inf and NaN survive JSON.

A request with <format> "batch" carries JSON instead, {"format": "openmetrics"
or "text", "texts": [...]}, and is answered with one JSON line: the list of the
answers to each text, in order.
"""
import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text


def number(v):
    """A value or timestamp as a string; an integer beyond float64 is infinite."""
    try:
        return repr(float(v))
    except OverflowError:
        return "inf" if v > 0 else "-inf"


def exemplar(e):
    if e is None:
        return None
    return {
        "labels": e.labels,
        "value": number(e.value),
        "timestamp": None if e.timestamp is None else number(e.timestamp),
    }


def families(fmt, text):
    parse = parse_openmetrics if fmt == "openmetrics" else parse_text
    out = []
    for family in parse(text):
        out.append(
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "unit": family.unit,
                "samples": [
                    {
                        "name": s.name,
                        "labels": s.labels,
                        "value": number(s.value),
                        "timestamp": None if s.timestamp is None else number(s.timestamp),
                        "exemplar": exemplar(s.exemplar),
                    }
                    for s in family.samples
                ],
            }
        )
    return out


def answer(fmt, text):
    try:
        return {"ok": True, "families": families(fmt, text)}
    except Exception as err:  # the parser's verdict, passed on verbatim
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}


def main():
    stdin = sys.stdin.buffer
    while True:
        header = stdin.readline()
        if not header:
            return
        fmt, length = header.decode().split()
        text = stdin.read(int(length)).decode("utf-8")
        if fmt == "batch":
            batch = json.loads(text)
            reply = [answer(batch["format"], t) for t in batch["texts"]]
        else:
            reply = answer(fmt, text)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
