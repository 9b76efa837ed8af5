"""Red team, Authentication-Results (issue 9, found by reading): only the topmost header, only
from the operator's own authserv-id, only a pass aligned with From: proves anything.

Each variation below is a stranger's own header (or a result our server would never call a
pass for the sender), over the Maildir source with a simulated plug and a real SMTP sink.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import PLUG, configure, run

from kshell.simulator import PlugSpec, SimulatorThread

OURS = "mx.home.test"
FORGED = [
    "mx.evil.test; dkim=pass header.d=home.test",  # another server's id
    f"{OURS}.evil.test; dkim=pass header.d=home.test",  # our id as a prefix
    f"{OURS}; dkim=fail header.d=home.test; dkim=pass header.d=evil.test",
    f"{OURS}; dkim=pass header.d=home.test.evil.test",  # a look-alike domain
    f"{OURS}; dkim=pass header.d=test",  # a bare suffix
    f'{OURS}; spf=pass smtp.mailfrom="x; dkim=pass header.d=home.test"',  # quoted
    f"{OURS}; dkim=pass (header.d=home.test) header.d=evil.test",  # a comment
    f"{OURS}; dkim=neutral header.d=home.test",
    f"{OURS}; spf=pass smtp.mailfrom=boss@home.test",  # SPF is not alignment with From:
]


@pytest.mark.parametrize("proof", FORGED)
def test_a_strangers_authentication_results_prove_nothing(
    home: Path, sink: ReplySink, proof: str
) -> None:
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as sim:
        listener = run(
            home, lambda listener: listener.deliver(make_mail(f"!off {PLUG}", proof=proof))
        )
        assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == [] and listener.audit()[0]["outcome"] == "not run"


def test_ours_below_a_strangers_proves_nothing(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    below = f"Authentication-Results: {OURS}; dkim=pass header.d=home.test\n"
    raw = make_mail(f"!off {PLUG}", proof="mx.evil.test; none", headers=below)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as sim:
        listener = run(home, lambda listener: listener.deliver(raw))
        assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == [] and listener.audit()[0]["outcome"] == "not run"
