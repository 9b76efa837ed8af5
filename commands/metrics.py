"""The Prometheus exporter from the prompt: ``metrics on [ADDR:]PORT | off | status``.

``metrics on`` serves in the background of the interactive shell, as ``kshell
--serve-metrics`` does headless. Never by mail: it opens a listening socket. The exporter
(and prometheus-client) is imported only inside these commands.
"""

from __future__ import annotations

from kshell.core.session import Session
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Record, Result, Text

LISTEN = Arg("listen", "word", "[ADDR:]PORT to serve on (default address 127.0.0.1)")


@command(
    "metrics on",
    args=(LISTEN,),
    options=(Opt("--scrape-timeout", "float", "one deadline per scrape, seconds (default 5)"),),
    permission="admin",
    examples=("metrics on 9101", "metrics on 127.0.0.1:9101"),
    by_mail=ByMail.NO,
)
async def metrics_on(session: Session, args: Args) -> Result:
    """Serve a Prometheus exporter: /metrics (every known plug) and /probe?target=PLUG.

    Plugs are read when scraped, concurrently, under one deadline; a plug that does not
    answer in time shows as kasa_up 0 and never fails the page. Serving on an address
    other than loopback is your explicit choice: anyone who reaches it can read the plugs.
    """
    from kshell.work.metrics.server import start_server

    old = session.metrics
    if old is not None and old.running:
        return Text(f"metrics: already on, serving {old.describe()}", {"metrics": old.status()})
    if not session.interactive:
        raise UsageError(
            "metrics on keeps serving in the interactive shell; "
            "without a prompt use: kshell --serve-metrics [ADDR:]PORT"
        )
    server = await start_server(session, args.listen, args.scrape_timeout)
    return Text(f"metrics: on, serving {server.describe()}", {"metrics": server.status()})


@command("metrics off", permission="admin", examples=("metrics off",), by_mail=ByMail.NO)
async def metrics_off(session: Session, args: Args) -> Result:
    """Stop serving metrics."""
    server = session.metrics
    if server is None or not server.running:
        return Text("metrics: already off", {"metrics": {"state": "off"}})
    await server.stop()
    session.metrics = None
    return Text("metrics: off", {"metrics": {"state": "off"}})


@command("metrics status", permission="read", examples=("metrics status",), by_mail=ByMail.NO)
async def metrics_status(session: Session, args: Args) -> Result:
    """Whether the exporter is serving, where, and how its scrapes went."""
    server = session.metrics
    if server is None:
        return Record("metrics", {"state": "off"})
    return Record("metrics", server.status())
