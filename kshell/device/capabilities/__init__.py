"""What a plug can do, one file per capability: its interface, its IOT and SMART forms and
its declaration (``declaration.Capability``), which commands, targets and completion read.
``rule_words``, ``iot_zones`` and ``smart_info`` are helpers the capability files share."""
