"""The simulator's KLAP, AES, HTTP and UDP 20002 sides, spoken to with a small client written
here from the protocol facts (docs/protocols.md), over real sockets on 127.11.x.y."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from helpers.waiting import wait_until

from kshell.simulator import DEMO_ACCOUNT, PlugSpec, SimulatorThread

USER, PASSWORD = DEMO_ACCOUNT.username, DEMO_ACCOUNT.password
PROBE = bytes.fromhex("020000010000000000000000463cb5d3")  # python-kasa's payload-less probe


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def auth(version: int, user: str = USER, password: str = PASSWORD) -> bytes:
    if version == 1:
        md5 = hashlib.md5
        return md5(md5(user.encode()).digest() + md5(password.encode()).digest()).digest()
    sha1 = hashlib.sha1
    return sha256(sha1(user.encode()).digest() + sha1(password.encode()).digest())


def post(
    host: str, port: int, path: str, body: bytes, cookie: str | None = None, timeout: float = 3
) -> tuple[int, bytes, str | None]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Cookie": cookie} if cookie else {}
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Set-Cookie")
    finally:
        conn.close()


class Klap:
    """A KLAP client of ``version`` for one plug; ``proof_ok`` says if handshake1 matched."""

    def __init__(self, host: str, port: int, version: int = 2, password: str = PASSWORD) -> None:
        self.host, self.port, self.version = host, port, version
        self.auth = auth(version, USER, password)

    def handshake1(self) -> tuple[int, bool]:
        self.local = os.urandom(16)
        status, body, cookie = post(self.host, self.port, "/app/handshake1", self.local)
        if status != 200:
            return status, False
        self.cookie_header = cookie or ""
        self.cookie = cookie.split(";")[0] if cookie else ""
        self.remote, proof = body[:16], body[16:]
        mine = self.local + (self.remote if self.version == 2 else b"") + self.auth
        return status, sha256(mine) == proof

    def handshake2(self) -> int:
        parts = (self.remote, self.local) if self.version == 2 else (self.remote,)
        status, _, _ = post(
            self.host,
            self.port,
            "/app/handshake2",
            sha256(b"".join(parts) + self.auth),
            self.cookie,
        )
        base = self.local + self.remote + self.auth
        self.key = sha256(b"lsk" + base)[:16]
        self.sig = sha256(b"ldk" + base)[:28]
        ivfull = sha256(b"iv" + base)
        self.iv, self.seq = ivfull[:12], struct.unpack(">i", ivfull[-4:])[0]
        return status

    def login(self) -> None:
        assert self.handshake1() == (200, True)
        assert self.handshake2() == 200

    def _cipher(self, seq: int) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv + struct.pack(">i", seq)))

    def seal(self, seq: int, data: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        enc = self._cipher(seq).encryptor()
        ct = enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
        return sha256(self.sig + struct.pack(">i", seq) + ct) + ct

    def open(self, seq: int, body: bytes) -> bytes:
        dec = self._cipher(seq).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(dec.update(body[32:]) + dec.finalize()) + unpadder.finalize()

    def send(self, request: dict[str, Any], seq: int | None = None) -> tuple[int, bytes, int]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = self.seal(seq, json.dumps(request).encode())
        status, answer, _ = post(self.host, self.port, f"/app/request?seq={seq}", body, self.cookie)
        return status, answer, seq

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        status, answer, seq = self.send(request)
        assert status == 200
        sig = sha256(self.sig + struct.pack(">i", seq) + answer[32:])
        assert answer[:32] == sig  # the plug signs its answers
        return json.loads(self.open(seq, answer))


def new_gen(host: str, model: str = "P110(AU) 1.0", **kw: Any) -> PlugSpec:
    return PlugSpec(host=host, model=model, http_port=0, tdp_port=0, seed=11, **kw)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    specs = [
        new_gen("127.11.10.1"),  # SMART over KLAP v2
        new_gen("127.11.10.2", "HS100(UK) 4.1"),  # IOT over KLAP v1
        new_gen("127.11.10.3", "HS220(US) 3.26"),  # SMART over AES
        new_gen("127.11.10.4", session_timeout=1),
        PlugSpec(host="127.11.10.5", model="HS110(EU) 2.0", port=0, udp_port=0),  # old XOR
    ]
    with SimulatorThread(specs) as running:
        yield running


def klap(sim: SimulatorThread, i: int = 0, **kw: Any) -> Klap:
    plug = sim.plugs[i]
    return Klap(plug.host, plug.http_port, plug.login_version, **kw)


def test_klap_v2_smart_and_v1_iot_round_trips(sim: SimulatorThread) -> None:
    client = klap(sim)
    client.login()
    assert client.cookie_header.endswith(";TIMEOUT=86400")
    info = client.ask({"method": "get_device_info"})["result"]
    assert info["model"] == "P110"
    assert client.ask({"method": "set_device_info", "params": {"device_on": False}}) == {
        "error_code": 0
    }
    assert sim.call(lambda: sim.plugs[0].relay_state) == 0
    old = klap(sim, 1)
    assert old.version == 1
    old.login()
    sysinfo = old.ask({"system": {"get_sysinfo": {}}})["system"]["get_sysinfo"]
    assert sysinfo["model"] == "HS100(UK)" and sysinfo["hw_ver"] == "4.1"


def test_klap_refuses_what_a_plug_refuses(sim: SimulatorThread) -> None:
    plug = sim.plugs[0]
    wrong = klap(sim, password="wrong")
    assert wrong.handshake1() == (200, False)  # the plug proves its own password: no match
    assert wrong.handshake2() == 403
    client = klap(sim)
    client.login()
    status, _, seq = client.send({"method": "get_device_info"})
    assert status == 200
    assert client.send({"method": "get_device_info"}, seq=seq)[0] == 400  # replayed seq
    body = bytearray(client.seal(seq + 1, b'{"method":"get_device_info"}'))
    body[0] ^= 1
    status, _, _ = post(
        plug.host, plug.http_port, f"/app/request?seq={seq + 1}", bytes(body), client.cookie
    )
    assert status == 400  # a bad signature
    assert post(plug.host, plug.http_port, "/app/request?seq=1", b"x" * 48)[0] == 403  # no session
    assert (
        post(plug.host, plug.http_port, "/app", b'{"method":"get_device_info"}')[1]
        == b'{"error_code":1003}'
    )
    assert post(plug.host, plug.http_port, "/app/handshake1", b"short")[0] == 400
    assert post(plug.host, plug.http_port, "/app/request", b"x" * (70 * 1024))[0] == 413


def test_session_timeout_and_expiry_fault(sim: SimulatorThread) -> None:
    short = klap(sim, 3)
    short.login()
    assert short.cookie_header.endswith(";TIMEOUT=1")
    assert short.send({"method": "get_device_info"})[0] == 200
    time.sleep(1.1)
    assert short.send({"method": "get_device_info"})[0] == 403  # expired: handshake again
    client = klap(sim)
    client.login()
    sim.set_fault(sim.plugs[0].host, "session_expired")
    assert client.send({"method": "get_device_info"})[0] == 403
    client.login()
    assert client.send({"method": "get_device_info"})[0] == 200  # one request only


@pytest.mark.parametrize("fault", ["third_party_off", "impostor", "password_changed"])
def test_handshake_faults(sim: SimulatorThread, fault: str) -> None:
    sim.set_fault(sim.plugs[0].host, fault)
    status, matched = klap(sim).handshake1()
    if fault == "third_party_off":
        assert status == 403
    else:
        assert (status, matched) == (200, False)
    sim.clear_faults(sim.plugs[0].host)
    assert klap(sim).handshake1() == (200, True)


def test_answers_that_do_not_decrypt_or_verify(sim: SimulatorThread) -> None:
    host = sim.plugs[0].host
    client = klap(sim)
    client.login()
    sim.set_fault(host, "bad_signature")
    status, answer, seq = client.send({"method": "get_device_info"})
    assert status == 200 and answer[:32] != sha256(
        client.sig + struct.pack(">i", seq) + answer[32:]
    )
    assert json.loads(client.open(seq, answer))["error_code"] == 0  # the text itself is fine
    sim.clear_faults(host)
    sim.set_fault(host, "bad_body")
    status, answer, seq = client.send({"method": "get_device_info"})
    with pytest.raises(ValueError):
        json.loads(client.open(seq, answer))
    sim.clear_faults(host)
    sim.set_fault(host, "garbage")
    with pytest.raises(http.client.HTTPException):
        client.send({"method": "get_device_info"})


def test_slow_and_silent_http(sim: SimulatorThread) -> None:
    plug = sim.plugs[0]
    sim.set_fault(plug.host, "delay", 0.6)
    start = time.monotonic()
    assert post(plug.host, plug.http_port, "/app/handshake1", os.urandom(16))[0] == 200
    assert time.monotonic() - start >= 0.55
    sim.set_fault(plug.host, "drop")
    with pytest.raises(TimeoutError):
        post(plug.host, plug.http_port, "/app/handshake1", os.urandom(16), timeout=0.5)
    sim.set_fault(plug.host, "offline")
    with pytest.raises(ConnectionRefusedError):
        post(plug.host, plug.http_port, "/app/handshake1", os.urandom(16))


def test_http_bounds_header_flood_and_get(sim: SimulatorThread) -> None:
    from kshell.simulator.http import MAX_CONNECTIONS

    plug = sim.plugs[0]
    held = [
        socket.create_connection((plug.host, plug.http_port), timeout=3)
        for _ in range(MAX_CONNECTIONS)
    ]
    try:
        wait_until(lambda: sim.open_connections(plug.host) == MAX_CONNECTIONS, what="held")
        with socket.create_connection((plug.host, plug.http_port), timeout=3) as extra:
            extra.sendall(
                b"POST /app/handshake1 HTTP/1.1\r\nContent-Length: 16\r\n\r\n" + bytes(16)
            )
            with contextlib.suppress(ConnectionResetError):
                assert extra.recv(100) == b""  # closed: one connection too many
    finally:
        for s in held:
            s.close()
    wait_until(lambda: sim.open_connections(plug.host) == 0, what="the held ones closed")
    assert post(plug.host, plug.http_port, "/app/handshake1", os.urandom(16))[0] == 200
    with socket.create_connection((plug.host, plug.http_port), timeout=3) as s:
        s.sendall(b"POST /app HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    conn = http.client.HTTPConnection(plug.host, plug.http_port, timeout=3)
    conn.request("GET", "/")
    assert conn.getresponse().status == 405
    conn.close()


# -- AES ----------------------------------------------------------------------------------------
class Aes:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        request = {"method": "handshake", "params": {"key": pem.decode()}}
        status, body, cookie = post(host, port, "/app", json.dumps(request).encode())
        assert status == 200 and cookie and "TIMEOUT=" in cookie
        self.cookie = cookie.split(";")[0]
        wrapped = base64.b64decode(json.loads(body)["result"]["key"])
        both = key.decrypt(wrapped, rsa_padding.PKCS1v15())
        self.cipher = Cipher(algorithms.AES(both[:16]), modes.CBC(both[16:]))
        self.token = ""

    def call(self, inner: dict[str, Any]) -> dict[str, Any]:
        padder = padding.PKCS7(128).padder()
        enc = self.cipher.encryptor()
        data = enc.update(padder.update(json.dumps(inner).encode()) + padder.finalize())
        sealed = base64.b64encode(data + enc.finalize()).decode()
        outer = {"method": "securePassthrough", "params": {"request": sealed}}
        path = f"/app?token={self.token}" if self.token else "/app"
        status, body, _ = post(self.host, self.port, path, json.dumps(outer).encode(), self.cookie)
        assert status == 200
        answer = json.loads(body)
        if answer["error_code"]:
            return answer  # an outer (transport) error
        dec = self.cipher.decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        raw = dec.update(base64.b64decode(answer["result"]["response"])) + dec.finalize()
        return json.loads(unpadder.update(raw) + unpadder.finalize())

    def login(self, password: str = PASSWORD) -> dict[str, Any]:
        sha1 = lambda t: hashlib.sha1(t.encode()).hexdigest().encode()
        params = {
            "username": base64.b64encode(sha1(USER)).decode(),
            "password2": base64.b64encode(sha1(password)).decode(),  # login version 2
        }
        answer = self.call({"method": "login_device", "params": params})
        if answer["error_code"] == 0:
            self.token = answer["result"]["token"]
        return answer


def test_aes_handshake_login_token(sim: SimulatorThread) -> None:
    plug = sim.plugs[2]
    client = Aes(plug.host, plug.http_port)
    assert client.call({"method": "get_device_info"}) == {"error_code": 9999}  # no login yet
    assert client.login()["error_code"] == 0
    assert client.call({"method": "get_device_info"})["result"]["model"] == "HS220"
    wrong = Aes(plug.host, plug.http_port)
    assert wrong.login("wrong") == {"error_code": -1501}
    assert wrong.login() == {"error_code": 9999}  # a failed login kills the session
    sim.set_fault(plug.host, "impostor")  # AES proves nothing: an impostor takes any password
    assert Aes(plug.host, plug.http_port).login("wrong")["error_code"] == 0
    bad = {"method": "handshake", "params": {"key": "not a key"}}
    assert json.loads(post(plug.host, plug.http_port, "/app", json.dumps(bad).encode())[1]) == {
        "error_code": -1010
    }


# -- UDP 20002 ----------------------------------------------------------------------------------
def _unicast(host: str, port: int, datagram: bytes, wait: float = 0.5) -> tuple[bytes, Any] | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        s.sendto(datagram, (host, port))
        try:
            return s.recvfrom(4096)
        except TimeoutError:
            return None


def test_discovery_probe_and_answer(sim: SimulatorThread) -> None:
    smart, iot, aes = sim.plugs[:3]
    got = _unicast(smart.host, smart.tdp_port, PROBE)
    assert got is not None
    data, source = got
    assert source == (smart.host, smart.tdp_port)  # from the plug's own address and port
    assert (
        data[:4] == bytes.fromhex("02000001")
        and struct.unpack(">H", data[4:6])[0] == len(data) - 16
    )
    head = data[:12] + struct.pack(">I", 0x5A6B7C8D) + data[16:]
    assert struct.unpack(">I", data[12:16])[0] == zlib.crc32(head)
    result = json.loads(data[16:])["result"]
    assert result["device_type"] == "SMART.TAPOPLUG" and result["device_model"] == "P110(AU)"
    assert result["mgt_encrypt_schm"] == {
        "encrypt_type": "KLAP", "http_port": smart.http_port, "is_support_https": False, "lv": 2
    }  # fmt: skip
    assert result["mac"] == smart.mac.replace(":", "-") and len(result["owner"]) == 32
    iot_result = json.loads(_unicast(iot.host, iot.tdp_port, PROBE)[0][16:])["result"]  # type: ignore[index]
    assert "lv" not in iot_result["mgt_encrypt_schm"] and iot_result["hw_ver"] == "4.1"
    aes_result = json.loads(_unicast(aes.host, aes.tdp_port, PROBE)[0][16:])["result"]  # type: ignore[index]
    assert aes_result["mgt_encrypt_schm"]["encrypt_type"] == "AES"
    bad_crc = PROBE[:-1] + bytes([PROBE[-1] ^ 1])
    assert _unicast(smart.host, smart.tdp_port, bad_crc, wait=0.3) is None
    old = sim.plugs[4]
    assert _unicast(old.host, old.udp_port, PROBE, wait=0.3) is None  # old plugs stay silent


def test_device_reboot_drops_the_sessions() -> None:
    from kshell.simulator import FirmwareConfig

    fast = FirmwareConfig(flash_time=0.1, reboot_time=0.4)
    with SimulatorThread([new_gen("127.11.11.1")], firmware=fast) as sim:
        client = klap(sim)
        client.login()
        assert client.ask({"method": "device_reboot", "params": {"delay": 0}}) == {"error_code": 0}
        deadline = time.monotonic() + 5
        while sim.call(lambda: not sim.plugs[0].down) and time.monotonic() < deadline:
            time.sleep(0.02)
        while sim.call(lambda: sim.plugs[0].down) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert time.monotonic() < deadline, "the plug did not go down and come back"
        assert client.send({"method": "get_device_info"})[0] == 403  # a rebooted plug forgot it
        client.login()
        assert client.ask({"method": "get_device_info"})["error_code"] == 0


def test_a_bulk_fleet_of_smart_meters_answers_the_broadcast_probe() -> None:
    from kshell.simulator import BROADCAST, bulk_specs
    from kshell.simulator.runner import METERED_SMART_MODELS

    specs = bulk_specs(
        40, "127.11.12.1", models=METERED_SMART_MODELS, http_port=0, tdp_port=0, udp_port=None
    )
    with SimulatorThread(specs) as sim:
        port = sim.plugs[0].tdp_port
        assert {p.tdp_port for p in sim.plugs} == {port}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.settimeout(0.5)
            s.sendto(PROBE, (BROADCAST, port))
            seen = set()
            with contextlib.suppress(TimeoutError):
                while len(seen) < len(specs):
                    data, (host, source_port) = s.recvfrom(4096)
                    assert source_port == port
                    assert json.loads(data[16:])["result"]["ip"] == host  # its own address
                    seen.add(host)
        assert seen == set(sim.hosts)


def test_a_firmware_update_moves_an_old_plug_to_klap_then_aes() -> None:
    from kshell.device.codec import encode_datagram

    spec = PlugSpec(host="127.11.13.1", model="KP115(EU) 1.0", port=0, udp_port=0, tdp_port=0)
    with SimulatorThread([spec, new_gen("127.11.13.2")]) as sim:
        plug = sim.plugs[0]
        old_port, old_udp = plug.port, plug.udp_port
        sim.switch_transport(plug.host, "klap")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((plug.host, old_port), timeout=1).close()
        probe = encode_datagram({"system": {"get_sysinfo": {}}})
        assert _unicast(plug.host, old_udp, probe, wait=0.3) is None  # 9999 discovery gone
        assert plug.tdp_port == sim.plugs[1].tdp_port  # joined the new generation's port
        answer = _unicast(plug.host, plug.tdp_port, PROBE)
        assert answer is not None
        result = json.loads(answer[0][16:])["result"]
        assert result["mac"] == plug.mac.replace(":", "-")  # the same unit
        assert result["device_type"] == "IOT.SMARTPLUGSWITCH"
        client = klap(sim)
        client.login()
        sysinfo = client.ask({"system": {"get_sysinfo": {}}})["system"]["get_sysinfo"]
        assert sysinfo["mac"] == plug.mac
        sim.switch_transport(plug.host, "aes")
        result = json.loads(_unicast(plug.host, plug.tdp_port, PROBE)[0][16:])["result"]  # type: ignore[index]
        assert result["mgt_encrypt_schm"]["encrypt_type"] == "AES"
        assert klap(sim).handshake1()[0] == 404  # no KLAP endpoints any more


def test_an_oversized_answer(sim: SimulatorThread) -> None:
    plug = sim.plugs[0]
    sim.set_fault(plug.host, "oversized", 2_000_000)
    status, body, _ = post(plug.host, plug.http_port, "/app/handshake1", os.urandom(16))
    assert status == 200 and len(body) == 2_000_000
