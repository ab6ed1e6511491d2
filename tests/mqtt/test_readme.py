"""The README's Home Assistant card names entities that discovery really announces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from loadbalancer.config import load_site
from loadbalancer.mqtt.discovery import discovery_messages
from loadbalancer.mqtt.topics import Topics

REPO = Path(__file__).resolve().parents[2]


def entity_ids(site_file: Path) -> set[str]:
    """What Home Assistant makes of each discovery message: ``<component>.<object_id>`` with
    the object id lower-cased and anything but letters and digits made ``_``."""
    site = load_site(site_file)
    assert site.mqtt is not None
    out = set()
    for topic, payload in discovery_messages(site, site.mqtt, Topics(site, site.mqtt)).items():
        component = topic.split("/")[1]
        object_id = json.loads(payload)["object_id"]
        out.add(f"{component}.{re.sub(r'[^a-z0-9]+', '_', object_id.lower())}")
    return out


def test_the_card_names_only_discovered_entities(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Home Assistant and MQTT", 1)[1]
    card_text = next(b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if "cards:" in b)
    card = yaml.safe_load(card_text)
    named = [e if isinstance(e, str) else e["entity"] for c in card["cards"] for e in c["entities"]]
    raw = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    raw["mqtt"] = {"url": "mqtt://127.0.0.1", "commands": ["max_current_a", "pause"]}
    site_file = tmp_path / "home.yaml"
    site_file.write_text(yaml.safe_dump(raw))
    discovered = entity_ids(site_file)
    assert len(named) == 15 and set(named) <= discovered, set(named) - discovered
