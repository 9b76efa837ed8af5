"""Plugs in a monitoring stack: a Prometheus exporter and an InfluxDB sink.

Imported only when metrics run (``--serve-metrics``, ``metrics on``, ``emeter watch --out
influx://...``): one-shot commands never load prometheus-client.
"""
