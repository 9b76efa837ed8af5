"""Colours: a pygments theme (``[shell] style``) under the ``[colors]`` section of the config.

``[shell] color = never`` (or the NO_COLOR environment variable) turns colour off.
"""

from __future__ import annotations

import configparser
import os

from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import BaseStyle, Style, merge_styles, style_from_pygments_cls

from kshell.store.config import text

# config key -> the style class it colours (lexer tokens are "pygments.*")
CLASSES = {
    "verb": "pygments.keyword",
    "subverb": "pygments.keyword.type",
    "target": "pygments.name.variable",
    "address": "pygments.name.variable.magic",
    "unknown_target": "pygments.name.exception",
    "keyword": "pygments.keyword.constant",
    "option": "pygments.name.attribute",
    "string": "pygments.string",
    "number": "pygments.number",
    "comment": "pygments.comment",
    "error": "pygments.error",
    "prompt": "prompt",
    "prompt_target": "prompt.target",
    "prompt_remote": "prompt.remote",
    "toolbar": "bottom-toolbar",
}

BASE = {
    "bottom-toolbar.dim": "noreverse",
    "bottom-toolbar.on": "bold",
    "bottom-toolbar.remote": "bold",
    "confirm": "bold",
    "completion-menu.completion.current": "reverse",
}


def build_style(config: configparser.ConfigParser) -> tuple[BaseStyle, list[str]]:
    """The prompt's style, and any config values that were not understood."""
    from pygments.styles import get_style_by_name
    from pygments.util import ClassNotFound

    problems = []
    theme = text(config, "shell", "style")
    try:
        pygments_style = get_style_by_name(theme)
    except ClassNotFound:
        problems.append(f"[shell] style = {theme}: no such pygments style, using native")
        pygments_style = get_style_by_name("native")
    rules: dict[str, str] = dict(BASE)
    for key, value in config.items("colors") if config.has_section("colors") else []:
        value = value.strip()
        if not value:
            continue
        if key not in CLASSES:
            problems.append(f"[colors] {key}: unknown (known: {', '.join(CLASSES)})")
            continue
        try:
            Style.from_dict({CLASSES[key]: value})
        except (ValueError, AssertionError) as exc:
            problems.append(f"[colors] {key} = {value}: {exc}")
            continue
        rules[CLASSES[key]] = value
    return merge_styles([style_from_pygments_cls(pygments_style), Style.from_dict(rules)]), problems


def color_depth(config: configparser.ConfigParser) -> ColorDepth | None:
    """Monochrome when the config or NO_COLOR says so; None lets prompt_toolkit decide."""
    setting = text(config, "shell", "color").lower()
    if setting in ("never", "no", "off", "false") or "NO_COLOR" in os.environ:
        return ColorDepth.MONOCHROME
    return None
