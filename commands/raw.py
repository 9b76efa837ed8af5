"""Talking to a plug directly: raw JSON requests, for what no command covers yet."""

from __future__ import annotations

import json
import re
from typing import Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import resolve_all
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Document, Failure, Result

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
        """raw Tapo '{"method":"get_device_info"}'""",
    ),
    by_mail=ByMail.IF_ALLOW_RAW,
)
async def raw(session: Session, args: Args) -> list[Result]:
    """Send a JSON request as it is and show the whole answer as JSON (err_code included).

    An err_code other than 0 anywhere in the answer is a failure (exit status 1), shown
    after the answer. Quote the request, or the shell takes its quotes away.
    """
    from kshell.core.targets import for_each

    request = parse_request(args.request)
    failures: list[Failure] = []

    async def one(target: Target) -> Result:
        device = target.device(session)
        answer = await device.raw(request, target.child_id)
        failures.extend(Failure(e) for e in device.errors_in(request, answer, target.label))
        pretty = json.dumps(answer, indent=2, ensure_ascii=False, default=str)
        return Document(f"{target.label}: answer\n{pretty}", {"target": target.label, **answer})

    results = await for_each(session, resolve_all(session, [args.target]), one)
    return results + list(failures)


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
