"""Talking to a plug directly: raw JSON requests, for what no command covers yet."""

from __future__ import annotations

import json
from typing import Any

from kshell.context import Context
from kshell.errors import UsageError
from kshell.registry import Arg, ByMail, command
from kshell.results import Record, Result
from kshell.targets import Target, for_each, resolve_all

MAX_REQUEST = 16 * 1024


@command(
    "raw",
    args=(
        Arg("target", "target", "plug"),
        Arg("request", "json", "the JSON request, quoted"),
    ),
    permission="admin",
    examples=(
        """raw Kitchen '{"system":{"get_sysinfo":{}}}'""",
        """raw Kitchen '{"time":{"get_time":{}}}'""",
    ),
    by_mail=ByMail.IF_ALLOW_RAW,
)
async def raw(ctx: Context, args: Any) -> list[Result]:
    """Send a JSON request as it is and show the answer (err_code included)."""
    request = parse_request(args.request)

    async def one(target: Target) -> Result:
        answer = await target.device(ctx).raw(request, target.child_id)
        return Record(f"{target.label}: answer", answer, target.label)

    return await for_each(ctx, resolve_all(ctx, [args.target]), one)


def parse_request(text: str) -> dict[str, Any]:
    if len(text) > MAX_REQUEST:
        raise UsageError(f"raw: request longer than {MAX_REQUEST} characters")
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"raw: invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    if not isinstance(request, dict) or not request:
        raise UsageError(
            'raw: the request must be a JSON object like {"system":{"get_sysinfo":{}}}'
        )
    return request
