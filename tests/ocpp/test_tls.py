"""Security profile 2: Basic auth over TLS (wss://), with a certificate made for the test."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loadbalancer.meter.emulator import MeterServer
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from tests.ocpp.harness import PASSWORD, ocpp_site_yaml, point
from tests.service.harness import service_running


def self_signed(tmp: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


async def test_security_profile_2_takes_wss_and_refuses_plain_ws(tmp_path: Path) -> None:
    self_signed(tmp_path)
    carport = point("carport")
    log = tmp_path / "decisions.jsonl"
    async with MeterServer() as meter:
        raw = ocpp_site_yaml(meter.url, [carport], log, tmp_path)
        raw["ocpp"]["tls"] = {"cert_file": "cert.pem", "key_file": "key.pem"}
        (tmp_path / "site.yaml").write_text(yaml.safe_dump(raw))
        async with service_running(tmp_path / "site.yaml", log) as service:
            central = service.central
            assert central is not None
            async with asyncio.timeout(5):
                while central.server is None:  # noqa: ASYNC110 - started by the run task
                    await asyncio.sleep(0.01)
            trust = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
            box = EmulatedChargePoint("CP-carport", password=PASSWORD)
            try:
                await box.connect(f"wss://127.0.0.1:{central.port}/ocpp", tls=trust)
                charger = central.chargers["CP-carport/1"]
                async with asyncio.timeout(3):
                    while charger.boot is None:  # noqa: ASYNC110 - set by the handler
                        await asyncio.sleep(0.01)
            finally:
                await box.close()
            plain = EmulatedChargePoint("CP-carport", password=PASSWORD)
            with pytest.raises(Exception):  # noqa: B017, PT011 - the handshake fails, any way
                await plain.connect(f"ws://127.0.0.1:{central.port}/ocpp")
            await plain.close()
