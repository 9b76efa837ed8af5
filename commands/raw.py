"""Talking to a plug directly: raw JSON requests, for what no command covers yet."""

from __future__ import annotations

import json
import re
from typing import Any

from kshell.context import Context
from kshell.errors import DeviceError, UsageError
from kshell.registry import Arg, ByMail, command
from kshell.results import Failure, Result
from kshell.targets import Target, resolve_all

MAX_REQUEST = 16 * 1024
# what a shell leaves of unquoted JSON: {system:{get_sysinfo:{}}}
_LOST_QUOTES = re.compile(r"[{,]\s*[A-Za-z_][\w.]*\s*:")
EXAMPLE = """raw Kitchen '{"system":{"get_sysinfo":{}}}'"""


@command(
    "raw",
    args=(
        Arg("target", "target", "plug"),
        Arg("request", "json", "the JSON request, quoted"),
    ),
    permission="admin",
    examples=(
        EXAMPLE,
        """raw Kitchen '{"time":{"get_time":{}}}'""",
    ),
    by_mail=ByMail.IF_ALLOW_RAW,
)
async def raw(ctx: Context, args: Any) -> list[Result]:
    """Send a JSON request as it is and show the whole answer as JSON (err_code included).

    An err_code other than 0 anywhere in the answer is a failure (exit status 1), shown
    after the answer. Quote the request, or the shell takes its quotes away.
    """
    from kshell.pager import Document
    from kshell.targets import for_each

    request = parse_request(args.request)
    failures: list[Failure] = []

    async def one(target: Target) -> Result:
        conn = ctx.connection(target.host, target.port)
        if target.child_id and "context" not in request:
            request["context"] = {"child_ids": [target.child_id]}
        answer = await conn.query(request)
        failures.extend(Failure(e) for e in device_errors(request, answer, target.label))
        pretty = json.dumps(answer, indent=2, ensure_ascii=False, default=str)
        return Document(f"{target.label}: answer\n{pretty}", {"target": target.label, **answer})

    results = await for_each(ctx, resolve_all(ctx, [args.target]), one)
    return results + list(failures)


def device_errors(
    request: dict[str, Any], answer: dict[str, Any], target: str
) -> list[DeviceError]:
    """Every ``err_code`` other than 0 in an answer: at the top, per module, per method."""
    found = []
    if _code(answer):
        found.append(DeviceError("request", "send", _code(answer), _msg(answer), target=target))
    for module, part in answer.items():
        if not isinstance(part, dict):
            continue
        if _code(part):  # a module the plug lacks fails at this level, for every method
            asked = request.get(module)
            methods = ",".join(asked) if isinstance(asked, dict) and asked else "*"
            found.append(DeviceError(module, methods, _code(part), _msg(part), target=target))
            continue
        for method, result in part.items():
            if isinstance(result, dict) and _code(result):
                found.append(
                    DeviceError(module, method, _code(result), _msg(result), target=target)
                )
    return found


def _code(part: dict[str, Any]) -> int:
    code = part.get("err_code")
    if code is None:
        return 0
    if isinstance(code, bool) or not isinstance(code, int):
        return -1  # an err_code that is not a number is not a success
    return code


def _msg(part: dict[str, Any]) -> str:
    msg = part.get("err_msg", "")
    return msg[:200] if isinstance(msg, str) else ""


def parse_request(text: str) -> dict[str, Any]:
    if len(text) > MAX_REQUEST:
        raise UsageError(f"raw: request longer than {MAX_REQUEST} characters")
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if '"' not in text and _LOST_QUOTES.search(text):
            hint = (
                f"; its double quotes were lost: put the request in single quotes, e.g. {EXAMPLE}"
            )
        raise UsageError(
            f"raw: invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): "
            f"{exc.msg}{hint}"
        ) from None
    if not isinstance(request, dict) or not request:
        raise UsageError(f"raw: the request must be a JSON object, e.g. {EXAMPLE}")
    return request
