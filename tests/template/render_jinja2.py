#!/usr/bin/env python3
"""Renders chat-template cases with Python's Jinja2 the way transformers' apply_chat_template
does: a sandboxed environment with trim_blocks and lstrip_blocks, the loopcontrols extension,
tojson as json.dumps(ensure_ascii=False), raise_exception and strftime_now as globals.

Two differences from transformers: it enables the `do` extension (shoal accepts {% do %}, as
llama.cpp does), and transformers uses ImmutableSandboxedEnvironment, which refuses
list.append/pop; Kimi-K2-Thinking's template calls them, so this uses SandboxedEnvironment.

Usage: render_jinja2.py cases.json out.json
cases.json: {"templates": {name: {"source", "bos", "eos"}}, "cases": [{"template", "messages",
"tools" (may be null), "add_generation_prompt", "extra"}]}
out.json: [{"ok": true, "text": ...} | {"ok": false, "error": ...}] in the order of the cases.
"""
import datetime
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import SandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.now().strftime(fmt)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    env = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                               extensions=[jinja2.ext.loopcontrols, jinja2.ext.do])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    compiled = {}
    out = []
    for case in spec["cases"]:
        t = spec["templates"][case["template"]]
        try:
            if case["template"] not in compiled:
                compiled[case["template"]] = env.from_string(t["source"])
            ctx = dict(case.get("extra") or {})
            ctx.update(messages=case["messages"], tools=case.get("tools"),
                       add_generation_prompt=case["add_generation_prompt"],
                       bos_token=t["bos"], eos_token=t["eos"])
            out.append({"ok": True, "text": compiled[case["template"]].render(**ctx)})
        except Exception as e:  # any failure is a result to compare
            out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


main()
