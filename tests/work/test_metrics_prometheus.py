"""A real Prometheus scrapes kshell's exporter over simulated plugs; values read back through
its query API, as a dashboard would.

Plugs live on 127.80.0.x (this file's range). One simulator, one exporter (``kshell
--serve-metrics``) and one Prometheus (1 s scrape interval) serve the whole module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from helpers.prometheus import Prometheus, binary
from helpers.shell import ROOT, json_lines, run_shell, write_config

from kshell.simulator.accounts import DEMO_ACCOUNT
from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec
from kshell.ui.output import clean

HEATER, KETTLE, STRIP, DEAD, BOGUS, HOSTILE = (f"127.80.0.{n}" for n in range(2, 8))
# the current generation: SMART over KLAP (a metering plug, a strip, a 28 kW meter), IOT over KLAP
P110, EP40M, SMART_BOGUS, KP115_KLAP = (f"127.80.0.{n}" for n in range(10, 14))
HTTP = {h: f"{h}:80" for h in (P110, EP40M, SMART_BOGUS, KP115_KLAP)}  # the host label: h:port
NEW = (P110, EP40M, SMART_BOGUS, KP115_KLAP)
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}
HOSTILE_ALIAS = 'Evil "x"\\ }\n{y="1"} \\'
TOKEN = "scrape-token-7f3a"
OUTLETS = ("TV", "Soundbar", "Console", "Router", "Desk Lamp", "Charger")


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(host=HEATER, model="HS110(EU) 1.0", alias="Heater", profile="heater", seed=1),
        PlugSpec(host=KETTLE, model="KP115(EU) 1.0", alias="Kettle", profile="fridge", seed=2),
        PlugSpec(host=STRIP, model="HS300(US) 1.0", alias="Media Strip", outlet_aliases=OUTLETS),
        PlugSpec(host=DEAD, model="HS105(US) 1.0", alias="Dead Lamp", seed=4),
        PlugSpec(host=BOGUS, model="HS110(EU) 1.0", alias="Bogus", profile="media", seed=5),
        PlugSpec(host=HOSTILE, model="HS110(EU) 2.0", alias=HOSTILE_ALIAS, seed=6),
    ]
    specs = [PlugSpec(**{**vars(s), "udp_port": 0}) for s in specs] + [
        PlugSpec(host=P110, model="P110(EU) 1.0", alias="Tapo Kettle", profile="kettle"),
        PlugSpec(host=EP40M, model="EP40M(US) 1.0", alias="Porch Strip",
                 outlet_aliases=("Lights", "Pump"), outlet_states=(1, 0)),
        PlugSpec(host=SMART_BOGUS, model="P110(EU) 1.0", alias="Old Freezer",
                 faults=(("bogus_power", True),)),
        PlugSpec(host=KP115_KLAP, model="KP115(EU) 1.0", alias="Computer", transport="klap",
                 sw_ver="1.0.21 Build 231129 Rel.171238", profile="computer", udp_port=None),
    ]  # fmt: skip
    with SimulatorThread(specs) as running:
        yield running


@pytest.fixture(scope="module")
def home(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("metrics") / "home"
    token = path.parent / "token"  # Prometheus brings it as its authorization setting says
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    write_config(
        path, udp_port=sim.udp_port or 9999, extra=f"\n[metrics]\nbearer_token_file = {token}\n"
    )
    found = run_shell(path, "--json", "-c", "discover")
    assert found.returncode == 0, found.stderr
    for host in NEW:  # `add` finds out what each plug speaks
        added = run_shell(path, "-c", f"add {host}", env=CREDS)
        assert added.returncode == 0, added.stderr
    sim.set_fault(DEAD, "offline")
    sim.set_fault(BOGUS, "bogus_power")  # every reading ~28 kW until cleared
    return path


@pytest.fixture(scope="module")
def exporter(home):
    """``kshell --serve-metrics 127.0.0.1:0``; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home)]
        + ["--serve-metrics", "127.0.0.1:0", "--scrape-timeout", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **CREDS},
    )
    line = proc.stderr.readline() if proc.stderr else ""  # a service logs to stderr
    found = re.search(r"http://(127\.0\.0\.1:\d+)/metrics", line)
    if not found:
        proc.kill()
        pytest.fail(f"exporter did not start: {line}")
    yield f"http://{found.group(1)}"
    proc.terminate()
    assert proc.wait(10) == 0  # SIGTERM: a clean stop


@pytest.fixture(scope="module")
def prom(exporter, home, tmp_path_factory):
    address = exporter.removeprefix("http://")
    authorization = {"credentials_file": str(home.parent / "token")}  # type Bearer
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        [
            {
                "job_name": "kasa",
                "authorization": authorization,
                "static_configs": [{"targets": [address]}],
            },
            {
                "job_name": "kasa_probe",
                "metrics_path": "/probe",
                "params": {"target": ["Kettle"]},
                "authorization": authorization,
                "static_configs": [{"targets": [address]}],
            },
        ],
    ).start()
    yield server
    server.stop()


def _one(prom: Prometheus, promql: str) -> dict:
    return prom.wait_for(promql, lambda r: len(r) == 1)[0]


def test_prometheus_reads_the_simulators_readings(prom, home):
    heater = _one(prom, f'kasa_up{{job="kasa",host="{HEATER}"}}')
    assert heater["value"] == 1
    assert heater["metric"]["model"] == "HS110(EU)" and heater["metric"]["family"] == "iot"
    assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", heater["metric"]["mac"])
    for host in (HEATER, KETTLE):  # the old (W, V, A, kWh) and the new (mW, mV...) schema
        volts = _one(prom, f'kasa_voltage_volts{{job="kasa",host="{host}"}}')["value"]
        watts = _one(prom, f'kasa_power_watts{{job="kasa",host="{host}"}}')["value"]
        amps = _one(prom, f'kasa_current_amperes{{job="kasa",host="{host}"}}')["value"]
        assert 200 < volts < 260 and 0 < watts < 3680 and 0 < amps < 16
        assert _one(prom, f'kasa_reading_implausible{{job="kasa",host="{host}"}}')["value"] == 0
        assert _one(prom, f'kasa_relay_on{{job="kasa",host="{host}"}}')["value"] == 1
        assert _one(prom, f'kasa_rssi_dbm{{job="kasa",host="{host}"}}')["value"] < 0
        assert _one(prom, f'kasa_on_time_seconds{{job="kasa",host="{host}"}}')["value"] > 0
        took = _one(prom, f'kasa_scrape_duration_seconds{{job="kasa",host="{host}"}}')["value"]
        assert 0 < took < 2
    # the meter's total, as the shell reads it itself, in joules
    joules = _one(prom, f'kasa_energy_joules_total{{job="kasa",host="{KETTLE}"}}')["value"]
    reading = json_lines(run_shell(home, "--json", "-c", f"emeter {KETTLE}").stdout)[0]
    assert joules == pytest.approx(reading["total_kwh"] * 3.6e6, abs=0.01 * 3.6e6)


def test_a_dead_plug_is_up_0_and_fails_nothing(prom):
    dead = _one(prom, f'kasa_up{{job="kasa",host="{DEAD}"}}')
    assert dead["value"] == 0 and dead["metric"]["alias"] == "Dead Lamp"
    assert prom.query(f'kasa_relay_on{{host="{DEAD}"}}') == []
    up = prom.wait_for('kasa_up{job="kasa"} == 1', lambda r: len(r) == 5 + len(NEW))
    assert {r["metric"]["host"] for r in up} == {
        HEATER, KETTLE, STRIP, BOGUS, HOSTILE, *HTTP.values()
    }  # fmt: skip
    assert _one(prom, 'up{job="kasa"}')["value"] == 1  # the page itself never failed


def test_a_28_kw_reading_is_exported_as_measured_and_flagged(prom):
    assert _one(prom, f'kasa_reading_implausible{{job="kasa",host="{BOGUS}"}}')["value"] == 1
    assert _one(prom, f'kasa_power_watts{{job="kasa",host="{BOGUS}"}}')["value"] > 20_000


def test_the_current_generation_reads_the_same_way(prom):
    def value(metric: str, host: str) -> float:
        return float(_one(prom, f'{metric}{{job="kasa",host="{HTTP[host]}"}}')["value"])

    for host, family in ((P110, "smart"), (EP40M, "smart"), (KP115_KLAP, "iot")):
        up = _one(prom, f'kasa_up{{job="kasa",host="{HTTP[host]}"}}')
        assert up["value"] == 1 and up["metric"]["family"] == family
    for host in (P110, KP115_KLAP):
        assert 0 <= value("kasa_power_watts", host) < 3680
        assert value("kasa_reading_implausible", host) == 0
        assert value("kasa_rssi_dbm", host) < 0
    # a SMART plug keeps no lifetime total (only today's and this month's): no counter
    assert prom.query(f'kasa_energy_joules_total{{host="{HTTP[P110]}"}}') == []
    assert value("kasa_energy_joules_total", KP115_KLAP) > 0
    outlets = prom.wait_for(
        f'kasa_relay_on{{job="kasa",host="{HTTP[EP40M]}"}}', lambda r: len(r) == 2
    )
    assert {(r["metric"]["outlet"], r["metric"]["alias"], r["value"]) for r in outlets} == {
        ("1", "Lights", 1.0),
        ("2", "Pump", 0.0),
    }
    assert value("kasa_reading_implausible", SMART_BOGUS) == 1
    assert value("kasa_power_watts", SMART_BOGUS) > 20_000


def test_a_strips_six_outlets_with_their_own_aliases(prom):
    outlets = prom.wait_for(f'kasa_power_watts{{job="kasa",host="{STRIP}"}}', lambda r: len(r) == 6)
    found = {r["metric"]["outlet"]: r["metric"]["alias"] for r in outlets}
    assert found == {str(n): alias for n, alias in enumerate(OUTLETS, start=1)}
    relays = prom.wait_for(f'kasa_relay_on{{job="kasa",host="{STRIP}"}}', lambda r: len(r) == 6)
    assert {r["value"] for r in relays} <= {0.0, 1.0}
    strip = _one(prom, f'kasa_up{{job="kasa",host="{STRIP}"}}')
    assert strip["metric"]["alias"] == "Media Strip" and strip["metric"]["model"] == "HS300(US)"


def test_a_hostile_alias_arrives_intact(prom):
    up = _one(prom, f'kasa_up{{job="kasa",host="{HOSTILE}"}}')
    assert up["metric"]["alias"] == clean(HOSTILE_ALIAS, 120)  # one line, quotes kept
    assert "\n" not in up["metric"]["alias"] and '"' in up["metric"]["alias"]


def test_probe_reads_one_plug_named_in_prometheus(prom):
    probed = prom.wait_for('kasa_up{job="kasa_probe"}', lambda r: len(r) == 1)
    assert probed[0]["metric"]["host"] == KETTLE and probed[0]["value"] == 1
    assert len(prom.query('kasa_power_watts{job="kasa_probe"}')) == 1


def test_a_power_cut_is_a_counter_reset_to_prometheus(prom, sim):
    query = f'kasa_energy_joules_total{{job="kasa",host="{HEATER}"}}'
    before = _one(prom, query)["value"]
    assert before > 0
    sim.power_cut(HEATER)  # the plug restarts its total from zero
    prom.wait_for(f"resets({query}[1m])", lambda r: len(r) == 1 and r[0]["value"] >= 1)
    after = _one(prom, query)["value"]
    assert after < before
    # increase carries on across the reset: at least all the plug has counted since it
    # restarted from zero; the drop read as a fall would give after - (a value >= before)
    increase = _one(prom, f"increase({query}[1m])")["value"]
    assert increase >= after


def test_promtool_accepts_the_page(exporter):
    promtool = binary("promtool")
    assert promtool, "promtool missing (Debian package prometheus): run tests/peers.sh"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    asked = urllib.request.Request(
        f"{exporter}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    page = opener.open(asked, timeout=10).read()
    with pytest.raises(urllib.error.HTTPError) as refused:  # without the token: nothing
        opener.open(f"{exporter}/metrics", timeout=10)
    assert refused.value.code == 401
    assert b"kasa_up{" in page and b"# HELP kasa_energy_joules_total" in page
    checked = subprocess.run(
        [promtool, "check", "metrics"], check=False, input=page, capture_output=True, timeout=20
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in (b"kasa_energy_joules_total counter", b"kasa_power_watts gauge"):
        assert b"# TYPE " + name in page


def test_the_grafana_dashboards_queries_run_on_prometheus(prom):
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        concrete = expr.replace("$alias", ".*").replace("$__range", "1m")
        prom.query(concrete)  # a query Prometheus refuses fails here
    power = next(p for p in dashboard["panels"] if p["title"].startswith("Power per plug"))
    shown = prom.wait_for(power["targets"][0]["expr"].replace("$alias", ".*"), lambda r: r)
    assert {r["metric"]["host"] for r in shown} >= {HEATER, KETTLE, STRIP}
    assert BOGUS not in {r["metric"]["host"] for r in shown}  # implausible readings left out
