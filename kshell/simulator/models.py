"""Per-model sysinfo templates for the simulated devices.

Facts come from real devices' answers: python-kasa's ``tests/fixtures/iot/*.json`` dumps
(HS100(US) 2.0 1.5.6, HS105(US) 1.0 1.5.6, HS110(EU) 1.0 1.2.5, HS300(US) 1.0 1.0.10,
KP115(US) 1.0 1.0.17/1.0.21, KL110(US) 1.0 1.8.11) and answers users posted in issues
(HS110(EU) 2.0 on 1.5.2). What differs between models is real and kept:

* older firmware says ``type``, newer firmware and strips say ``mic_type`` (bulbs too);
* HS110 hardware 1 answers ``latitude``/``longitude`` (floats), newer ones ``latitude_i`` /
  ``longitude_i`` (integers, degrees x 10000);
* HS300 and KP115 carry no ``fwId``; HS300 has neither ``dev_name``, ``icon_hash``,
  ``relay_state`` nor ``on_time`` at the top (each outlet has ``state`` and ``on_time``);
* KP115 adds ``ntc_state``, ``obd_src`` and ``status``;
* bulbs have no ``mac`` but ``mic_mac`` (12 hex digits), no ``feature`` and ``description``
  instead of ``dev_name``.

``hwId`` and ``oemId`` identify a hardware model and region, not a unit: real plugs of one model
share them, so they are derived from the model here. ``deviceId`` and the MAC are per unit.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

PLUG = "IOT.SMARTPLUGSWITCH"
BULB = "IOT.SMARTBULB"


def _keys(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Key orders as real firmware families emit them (fixtures are sorted; posted answers are not).
_ORDER_LEGACY = _keys(
    """
    err_code sw_ver hw_ver type model mac deviceId hwId fwId oemId alias dev_name icon_hash
    relay_state on_time active_mode feature updating rssi led_off latitude longitude
    """
)
_ORDER_15X = _keys(
    """
    sw_ver hw_ver type model mac dev_name alias relay_state on_time active_mode feature
    updating icon_hash rssi led_off longitude_i latitude_i hwId fwId deviceId oemId
    next_action err_code
    """
)
_ORDER_MIC = _keys(
    """
    sw_ver hw_ver model deviceId oemId hwId rssi longitude_i latitude_i alias status
    obd_src mic_type feature mac updating led_off relay_state on_time active_mode icon_hash
    dev_name next_action ntc_state err_code
    """
)
_ORDER_STRIP = _keys(
    """
    sw_ver hw_ver model deviceId oemId hwId rssi longitude_i latitude_i alias status
    mic_type feature mac updating led_off children child_num err_code
    """
)
_ORDER_BULB = _keys(
    """
    sw_ver hw_ver model description alias mic_type dev_state mic_mac deviceId oemId hwId
    is_factory disco_ver ctrl_protocols light_state is_dimmable is_color
    is_variable_color_temp preferred_state rssi active_mode heapsize err_code
    """
)


@dataclass(frozen=True)
class ModelSpec:
    """What one hardware model and firmware looks like on the wire."""

    model: str  # with region, as the device says it: "HS110(EU)"
    hw_ver: str
    sw_ver: str  # full string: "1.5.2 Build 180130 Rel.085820"
    key_order: tuple[str, ...]
    device_type: str = PLUG
    type_key: str = "type"  # "type" or "mic_type"
    dev_name: str | None = None
    feature: str | None = "TIM"
    # None (no meter), "v1" (W/V/A/kWh), "v2" (mW/mV/mA/Wh), "smart" (SMART energy methods)
    emeter: str | None = None
    emeter_module: str = "emeter"
    mac_prefix: str = "50:C7:BF"
    children: int = 0
    rated_current_a: float = 10.0
    slot_id: bool = False  # strips of hardware 2 name the outlet in emeter answers
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.model} {self.hw_ver}"

    @property
    def region(self) -> str:
        return self.model[self.model.find("(") + 1 : -1] if "(" in self.model else ""

    @property
    def nominal_voltage(self) -> float:
        return 120.0 if self.region in ("US", "CA", "JP") else 230.0

    @property
    def rated_power_w(self) -> float:
        """The load the relay is rated for: what a plausible reading cannot exceed."""
        return round(self.rated_current_a * self.nominal_voltage)

    @property
    def has_emeter(self) -> bool:
        return self.emeter is not None

    @property
    def is_strip(self) -> bool:
        return self.children > 0

    @property
    def is_bulb(self) -> bool:
        return self.device_type == BULB

    @property
    def has_fwid(self) -> bool:
        return "fwId" in self.key_order

    @property
    def location_int(self) -> bool:
        return "latitude_i" in self.key_order


MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec(
            model="HS100(US)",
            hw_ver="2.0",
            sw_ver="1.5.6 Build 191118 Rel.140307",
            key_order=_ORDER_15X,
            dev_name="Smart Wi-Fi Plug",
            mac_prefix="B0:BE:76",
            rated_current_a=15.0,
        ),
        ModelSpec(
            model="HS105(US)",
            hw_ver="1.0",
            sw_ver="1.5.6 Build 191114 Rel.104204",
            key_order=_ORDER_15X,
            dev_name="Smart Wi-Fi Plug Mini",
            mac_prefix="50:C7:BF",
            rated_current_a=15.0,
        ),
        ModelSpec(
            model="HS110(EU)",
            hw_ver="1.0",
            sw_ver="1.2.5 Build 171213 Rel.101523",
            key_order=_ORDER_LEGACY,
            dev_name="Wi-Fi Smart Plug With Energy Monitoring",
            feature="TIM:ENE",
            emeter="v1",
            mac_prefix="50:C7:BF",
            rated_current_a=16.0,
        ),
        ModelSpec(
            model="HS110(EU)",
            hw_ver="2.0",
            sw_ver="1.5.2 Build 180130 Rel.085820",
            key_order=_ORDER_15X,
            dev_name="Smart Wi-Fi Plug With Energy Monitoring",
            feature="TIM:ENE",
            emeter="v2",
            mac_prefix="AC:84:C6",
            rated_current_a=16.0,
        ),
        ModelSpec(
            model="HS300(US)",
            hw_ver="1.0",
            sw_ver="1.0.10 Build 190103 Rel.163517",
            key_order=_ORDER_STRIP,
            type_key="mic_type",
            feature="TIM:ENE",
            emeter="v2",
            mac_prefix="68:FF:7B",
            children=6,
            rated_current_a=15.0,
        ),
        ModelSpec(
            model="HS300(US)",
            hw_ver="2.0",
            sw_ver="1.0.12 Build 220121 Rel.175814",
            key_order=_ORDER_STRIP,
            type_key="mic_type",
            feature="TIM:ENE",
            emeter="v2",
            mac_prefix="C0:06:C3",
            children=6,
            rated_current_a=15.0,
            slot_id=True,
            extra={"status": "new"},
        ),
        ModelSpec(
            model="KP115(EU)",
            hw_ver="1.0",
            sw_ver="1.0.16 Build 210205 Rel.163735",
            key_order=_ORDER_MIC,
            type_key="mic_type",
            dev_name="Smart Wi-Fi Plug Mini",
            feature="TIM:ENE",
            emeter="v2",
            mac_prefix="54:AF:97",
            rated_current_a=16.0,
            extra={"ntc_state": 0, "obd_src": "tplink", "status": "new"},
        ),
        ModelSpec(
            model="KL110(US)",
            hw_ver="1.0",
            sw_ver="1.8.11 Build 191113 Rel.105336",
            key_order=_ORDER_BULB,
            device_type=BULB,
            type_key="mic_type",
            feature=None,
            dev_name="Smart Wi-Fi LED Bulb with Dimmable Light",
            emeter="v2",
            emeter_module="smartlife.iot.common.emeter",
            mac_prefix="50:C7:BF",
            rated_current_a=0.1,
        ),
        ModelSpec(  # a dimmer wall switch (HS220(US) 1.0 answers as recorded by pyHS100)
            model="HS220(US)",
            hw_ver="1.0",
            sw_ver="1.5.7 Build 180912 Rel.104837",
            key_order=_ORDER_MIC + ("fwId", "brightness"),
            dev_name="Smart Wi-Fi Dimmer",
            mac_prefix="B0:BE:76",
            rated_current_a=5.0,
            type_key="mic_type",
        ),
        ModelSpec(  # a plain wall switch (python-kasa fixture HS200(US) 2.0 1.5.7)
            model="HS200(US)",
            hw_ver="2.0",
            sw_ver="1.5.7 Build 180912 Rel.104837",
            key_order=_ORDER_15X,
            dev_name="Smart Wi-Fi Light Switch",
            mac_prefix="B0:BE:76",
            rated_current_a=15.0,
        ),
    )
}

PLUG_MODELS = tuple(k for k, m in MODELS.items() if not m.is_bulb)


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n].upper()


@dataclass(frozen=True)
class Identity:
    """The identifiers of one simulated unit."""

    device_id: str
    hw_id: str
    oem_id: str
    fw_id: str
    mac: str


def make_identity(spec: ModelSpec, host: str, port: int) -> Identity:
    """Plausible identifiers; deviceId and MAC are unique per (host, port) and stable.

    Real deviceIds are 40 hex digits starting with 8006. On the usual port the MAC's last
    three bytes come from the 127.x.y.z address (mixed with a constant), so distinct hosts
    never share a MAC; plugs sharing one address on other ports get hashed MACs.
    """
    unit = f"{host}:{port}"
    device_id = "8006" + _hex("dev:" + unit, 36)
    if port == 9999:
        octets = ipaddress.IPv4Address(host).packed[1:]
        tail = bytes(a ^ b for a, b in zip(octets, (0x3A, 0x5C, 0x91), strict=True))
    else:
        tail = bytes.fromhex(_hex("mac:" + unit, 6))
    mac = spec.mac_prefix + ":" + ":".join(f"{b:02X}" for b in tail)
    return Identity(
        device_id=device_id,
        hw_id=_hex("hw:" + spec.key, 32),
        oem_id=_hex("oem:" + spec.model, 32),
        fw_id="0" * 32,  # what every 1.2.x / 1.5.x firmware in the dumps reports
        mac=mac,
    )
