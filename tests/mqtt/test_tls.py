"""``mqtts://``: the broker's certificate is verified (its chain and its name), by default and
without a way to turn it off; ``tls.ca_file`` names a private CA."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.mqtt.broker import mqtt_broker
from tests.mqtt.helpers import MqttSite, mqtt_section, mqtt_site

NOW = datetime.datetime.now(datetime.UTC)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def pki(tmp: Path, server_name: x509.GeneralName) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate it signed for ``server_name``: the CA's file,
    the server's certificate and key files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("broker"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([server_name]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "ca.pem", tmp / "server.pem", tmp / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def tls_lines(live: MqttSite) -> tuple[list[str], list[str]]:
    return live.lines("mqtt: connected to"), [m for m in live.lines("mqtt: ") if "retrying" in m]


async def test_a_broker_whose_certificate_is_not_trusted_is_refused(tmp_path: Path) -> None:
    ca, cert, key = pki(tmp_path, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    async with mqtt_broker(tmp_path, tls=(cert, key)) as broker:
        section = mqtt_section(broker.port, url=f"mqtts://127.0.0.1:{broker.port}")
        async with mqtt_site(tmp_path, section) as live:
            await live.site.until(lambda: tls_lines(live)[1] != [], 5)
            await live.telegram_decided((2.0, 2.0, 2.0))
            connected, outage = tls_lines(live)
            assert connected == [] and "CERTIFICATE_VERIFY_FAILED" in outage[0], outage
        # the same broker with its CA named: trusted
        section["tls"] = {"ca_file": str(ca)}
        async with mqtt_site(tmp_path, section) as live:
            await live.site.until(lambda: tls_lines(live)[0] != [], 5)
            mqtt = live.service.mqtt
            assert mqtt is not None
            await live.telegram_decided((2.0, 2.0, 2.0))
            await live.site.until(lambda: mqtt.idle and mqtt.store.messages_sent > 20, 5)
            assert tls_lines(live)[1] == []


async def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    ca, cert, key = pki(tmp_path, x509.DNSName("broker.example"))
    async with mqtt_broker(tmp_path, tls=(cert, key)) as broker:
        section = mqtt_section(
            broker.port, url=f"mqtts://127.0.0.1:{broker.port}", tls={"ca_file": str(ca)}
        )
        async with mqtt_site(tmp_path, section) as live:
            await live.site.until(lambda: tls_lines(live)[1] != [], 5)
            connected, outage = tls_lines(live)
            assert connected == [] and "IP address mismatch" in outage[0], outage
