"""The plugs' readings as Prometheus metric families (prometheus-client writes the format).

Names follow Prometheus's conventions (base units, ``_total`` on the counter). Every
reading is labelled ``host`` and ``alias``, and ``outlet`` (from 1, empty on a plain plug,
which Prometheus reads as absent) with the outlet's own alias on a strip. Label values
are cleaned to one line before prometheus-client escapes quotes and backslashes.

The plug's ``total`` is exported as the counter ``kasa_energy_joules_total`` as it stands:
after a power cut the plug starts it again from zero, and a counter that goes down is
exactly what Prometheus reads as a reset (``rate`` and ``increase`` carry on across it).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kshell.text import clean
from kshell.work.metrics.poll import PlugResult

PLUG = ["host", "alias"]
RELAY = ["host", "alias", "outlet"]
UP = ["host", "alias", "model", "mac", "family"]
JOULES_PER_KWH = 3_600_000.0


class PlugCollector(Collector):
    """Families made afresh from the results of the scrape under way."""

    def __init__(self) -> None:
        self.results: list[PlugResult] = []

    def collect(self) -> Iterator[Metric]:
        return iter(families(self.results))


def new_registry(collector: PlugCollector) -> CollectorRegistry:
    """A registry of its own (never the library's global one): only the plugs' families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def families(results: list[PlugResult]) -> list[Metric]:
    up = GaugeMetricFamily("kasa_up", "1 if the plug answered this scrape, else 0", labels=UP)
    duration = GaugeMetricFamily(
        "kasa_scrape_duration_seconds", "How long reading the plug took", labels=PLUG
    )
    rssi = GaugeMetricFamily("kasa_rssi_dbm", "Wi-Fi signal strength at the plug", labels=PLUG)
    relay = GaugeMetricFamily("kasa_relay_on", "1 if the relay is on, else 0", labels=RELAY)
    on_time = GaugeMetricFamily(
        "kasa_on_time_seconds", "Seconds since the relay was switched on", labels=RELAY
    )
    power = GaugeMetricFamily("kasa_power_watts", "Power drawn, as measured", labels=RELAY)
    voltage = GaugeMetricFamily("kasa_voltage_volts", "Mains voltage, as measured", labels=RELAY)
    current = GaugeMetricFamily("kasa_current_amperes", "Current drawn, as measured", labels=RELAY)
    energy = CounterMetricFamily(
        "kasa_energy_joules",
        "The plug's energy meter total (it restarts from 0 after a power cut)",
        labels=RELAY,
    )
    implausible = GaugeMetricFamily(
        "kasa_reading_implausible",
        "1 if the reading breaks the plausibility rules for the model (the values are "
        "still exported as measured)",
        labels=RELAY,
    )
    for result in results:
        plug = result.reading
        host = result.address
        alias = plug.alias if plug else _stored_alias(result)
        up.add_metric(
            [
                host,
                alias,
                *(_identity(result) if plug is None else (plug.model, plug.mac, plug.family)),
            ],
            1.0 if plug is not None else 0.0,
        )
        duration.add_metric([host, alias], round(result.duration_s, 6))
        if plug is None:
            continue
        if plug.rssi_dbm is not None:
            rssi.add_metric([host, alias], plug.rssi_dbm)
        for r in plug.relays:
            labels = [host, r.alias, "" if r.outlet is None else str(r.outlet)]
            if r.relay_on is not None:
                relay.add_metric(labels, 1.0 if r.relay_on else 0.0)
            if r.on_time_s is not None:
                on_time.add_metric(labels, r.on_time_s)
            reading = r.reading
            if reading is None:
                continue
            for family, value in (
                (power, reading.power_w),
                (voltage, reading.voltage_v),
                (current, reading.current_a),
            ):
                if value is not None:
                    family.add_metric(labels, value)
            if reading.total_kwh is not None:
                energy.add_metric(labels, reading.total_kwh * JOULES_PER_KWH)
            implausible.add_metric(labels, 1.0 if r.implausible else 0.0)
    return [up, duration, rssi, relay, on_time, power, voltage, current, energy, implausible]


def _stored_alias(result: PlugResult) -> str:

    record = result.target.record
    return clean(record.alias, 120) if record and record.alias else result.address


def _identity(result: PlugResult) -> tuple[str, str, str]:
    """Model, MAC and family of a plug that did not answer, as the store knows them."""

    record = result.target.record
    if record is None:
        return "", "", ""
    family = getattr(record, "family", "") or "iot"
    return clean(record.model, 120), clean(record.mac, 40), clean(family, 20)
