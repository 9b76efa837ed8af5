"""Models of the current generation: what each says in discovery and in the SMART protocol.

Facts from python-kasa's recordings (``tests/fixtures/smart/``: P110(AU) 1.0 1.3.1, P110(EU)
1.0 1.2.3, KP125M(US) 1.0 1.2.3, EP40M(US) 1.0 1.1.0, P300(EU) 1.0 1.0.15, HS220(US) 3.26
1.0.1; ``tests/fixtures/iot/HS100(UK)_4.1_1.1.0.json``). Component lists are trimmed to what
the simulator answers (each listed component's getters work); versions are as recorded.
``get_emeter_data`` exists only on firmware recorded with it (docs/protocols.md, "Energy readings").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kshell.simulator.models import _ORDER_MIC, MODELS, ModelSpec

TAPO_PLUG = "SMART.TAPOPLUG"
KASA_PLUG = "SMART.KASAPLUG"
KASA_SWITCH = "SMART.KASASWITCH"
IOT_PLUG = "IOT.SMARTPLUGSWITCH"

Components = tuple[tuple[str, int], ...]

_BASE: Components = (
    ("device", 2),
    ("firmware", 2),
    ("quick_setup", 3),
    ("time", 1),
    ("wireless", 1),
    ("schedule", 2),
    ("countdown", 2),
    ("antitheft", 1),
    ("account", 1),
    ("synchronize", 1),
    ("sunrise_sunset", 1),
    ("led", 1),
    ("cloud_connect", 1),
    ("iot_cloud", 1),
    ("device_local_time", 1),
    ("default_states", 1),
)
_METER_V2: Components = (("auto_off", 2), ("energy_monitoring", 2), ("power_protection", 1))
_STRIP_CHILD: Components = (
    ("device", 2),
    ("quick_setup", 3),
    ("time", 1),
    ("device_local_time", 1),
    ("schedule", 2),
    ("countdown", 2),
    ("antitheft", 1),
    ("account", 1),
    ("synchronize", 1),
    ("sunrise_sunset", 1),
    ("cloud_connect", 1),
    ("iot_cloud", 1),
    ("firmware", 2),
    ("default_states", 1),
    ("overheat_protection", 1),
)


@dataclass(frozen=True)
class SmartModel:
    """The SMART-side facts of one model (``None`` fields: not a SMART device)."""

    key: str
    components: Components = ()
    child_components: Components = ()
    emeter_data: bool = False  # answers get_emeter_data
    avatar: str = "plug"
    extra_info: dict[str, Any] = field(default_factory=dict)

    def has(self, component: str) -> bool:
        return any(c == component for c, _ in self.components)

    def version(self, component: str) -> int:
        return next((v for c, v in self.components if c == component), 0)

    @property
    def is_strip(self) -> bool:
        return self.has("child_device")

    @property
    def is_dimmer(self) -> bool:
        return self.has("brightness")


# ModelSpecs for SimPlug (identity, firmware string, sockets); key_order is IOT-only.
NEW_MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec("P110(AU)", "1.0", "1.3.1 Build 240621 Rel.162048", (), TAPO_PLUG,
                  mac_prefix="9C:53:22", rated_current_a=10.0, emeter="smart"),
        ModelSpec("P110(EU)", "1.0", "1.2.3 Build 230425 Rel.142542", (), TAPO_PLUG,
                  mac_prefix="9C:53:22", rated_current_a=16.0, emeter="smart"),
        ModelSpec("KP125M(US)", "1.0", "1.2.3 Build 240624 Rel.154806", (), KASA_PLUG,
                  mac_prefix="78:8C:B5", rated_current_a=15.0, emeter="smart"),
        ModelSpec("EP40M(US)", "1.0", "1.1.0 Build 240415 Rel.171219", (), KASA_PLUG,
                  mac_prefix="F0:09:0D", children=2, rated_current_a=15.0),
        ModelSpec("P300(EU)", "1.0", "1.0.15 Build 240108 Rel.103217", (), TAPO_PLUG,
                  mac_prefix="3C:52:A1", children=3, rated_current_a=10.0),
        ModelSpec("HS220(US)", "3.26", "1.0.1 Build 230829 Rel.160220", (), KASA_SWITCH,
                  mac_prefix="24:2F:D0", rated_current_a=5.0),
        # IOT JSON over KLAP (login version 1: its discovery has no "lv")
        ModelSpec("HS100(UK)", "4.1", "1.1.0 Build 201016 Rel.175121", _ORDER_MIC,
                  type_key="mic_type", dev_name="Smart Wi-Fi Plug", mac_prefix="CC:32:E5",
                  rated_current_a=13.0, extra={"ntc_state": 0, "status": "new"}),
    )
}  # fmt: skip

SMART_MODELS: dict[str, SmartModel] = {
    m.key: m
    for m in (
        SmartModel("P110(AU) 1.0", _BASE + _METER_V2, emeter_data=True),
        SmartModel("P110(EU) 1.0", _BASE + _METER_V2),
        SmartModel("KP125M(US) 1.0", _BASE + _METER_V2, emeter_data=True, avatar="egg_boiler"),
        SmartModel(
            "EP40M(US) 1.0",
            _BASE + (("control_child", 2), ("child_device", 2), ("overheat_protection", 1)),
            child_components=_STRIP_CHILD,
            avatar="",
        ),
        SmartModel(
            "P300(EU) 1.0",
            _BASE + (("control_child", 2), ("child_device", 2)),
            child_components=_STRIP_CHILD,
            avatar="",
        ),
        SmartModel(
            "HS220(US) 3.26",
            _BASE
            + (
                ("brightness", 1),
                ("preset", 1),
                ("on_off_gradually", 2),
                ("dimmer_calibration", 1),
                ("overheat_protection", 1),
            ),
            avatar="table_lamp_5",
        ),
    )
}

# what each model speaks out of the box: (transport, login version)
DEFAULT_TRANSPORT: dict[str, tuple[str, int]] = {
    "P110(AU) 1.0": ("klap", 2),
    "P110(EU) 1.0": ("klap", 2),
    "KP125M(US) 1.0": ("klap", 2),
    "EP40M(US) 1.0": ("klap", 2),
    "P300(EU) 1.0": ("klap", 2),
    "HS220(US) 3.26": ("aes", 2),
    "HS100(UK) 4.1": ("klap", 1),
}

# static getters every listed component answers the same way (python-kasa recordings)
STATIC_GETTERS: dict[str, dict[str, Any]] = {
    "get_connect_cloud_state": {"status": 0},
    "get_auto_update_info": {"enable": True, "random_range": 120, "time": 180},
    "get_fw_download_state": {
        "auto_upgrade": False,
        "download_progress": 0,
        "reboot_time": 5,
        "status": 0,
        "upgrade_time": 5,
    },
    "get_next_event": {},
    "get_schedule_rules": {
        "enable": False,
        "rule_list": [],
        "schedule_rule_max_count": 32,
        "start_index": 0,
        "sum": 0,
    },
    "get_countdown_rules": {"countdown_rule_max_count": 1, "enable": False, "rule_list": []},
    "get_antitheft_rules": {"antitheft_rule_max_count": 1, "enable": False, "rule_list": []},
    "get_protection_power": {"enabled": False, "protection_power": 0},
    "get_preset_rules": {"brightness": [100, 75, 50, 25, 1]},
    "get_on_off_gradually_info": {
        "off_state": {"duration": 1, "enable": True, "max_duration": 60},
        "on_state": {"duration": 1, "enable": True, "max_duration": 60},
    },
}
# which component a static getter belongs to (a getter of an absent component is unknown)
GETTER_COMPONENT = {
    "get_connect_cloud_state": "cloud_connect",
    "get_auto_update_info": "firmware",
    "get_fw_download_state": "firmware",
    "get_next_event": "schedule",
    "get_schedule_rules": "schedule",
    "get_countdown_rules": "countdown",
    "get_antitheft_rules": "antitheft",
    "get_protection_power": "power_protection",
    "get_preset_rules": "preset",
    "get_on_off_gradually_info": "on_off_gradually",
}

REGIONS = {  # region of the model's market -> (time zone as the plug names it)
    "EU": "Europe/Amsterdam",
    "UK": "Europe/London",
    "US": "America/New_York",
    "AU": "Australia/Sydney",
}


def get_model(name: str) -> ModelSpec:
    """Look a model up by "HS110(EU) 2.0", "HS110(EU)_2.0", "HS110(EU)/2.0" or "HS110(EU)".

    A bare model name picks the first hardware version listed for it.
    """
    norm = name.strip().replace("_", " ").replace("/", " ")
    known = {**MODELS, **NEW_MODELS}
    for key, spec in known.items():
        if key.lower() == norm.lower():
            return spec
    for spec in known.values():
        if spec.model.lower() == norm.lower():
            return spec
    raise KeyError(f"unknown simulated model {name!r}; known: {', '.join(known)}")
