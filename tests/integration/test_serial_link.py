"""The serial link between two "machines" (issue 6): two namespaces, one cable.

Each namespace runs its own netdrv daemon with the slip driver on one end of a
pseudo-terminal pair (socat, or netdrv's relay pacing at a real baud rate).
"""

from __future__ import annotations

import json
import shutil
import struct
import threading
import time

import pytest

from netdrv_core.checksum import ip_compute_csum
from netdrv_core.testing import NetNamespace

from .helpers import device, link_pair, tcp_transfer, wait_for
from .serial_helpers import Cable, ser2net

pytestmark = pytest.mark.netns

A, B = "198.18.5.1", "198.18.5.2"


@pytest.fixture
def cable_factory():
    made: list[Cable] = []

    def make(baud: int = 0, **kw) -> Cable:
        c = Cable(baud, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _link(a: NetNamespace, b: NetNamespace, cable: Cable, extra: str = "") -> None:
    a.netdrv(f"load slip port={cable.a} local={A}/32 peer={B} {extra}")
    b.netdrv(f"load slip port={cable.b} local={B}/32 peer={A} {extra}")


@pytest.mark.parametrize(
    "mode_a,mode_b,mtu",
    [
        ("slip", "slip", 1500),
        ("cslip", "cslip", 296),
        ("cslip", "adaptive", 1006),  # the adaptive end switches once the peer compresses
        ("plip", "plip", 1500),
        ("kiss", "kiss", 256),
    ],
)
def test_every_mode_carries_ping_and_tcp(netns_factory, cable_factory, mode_a, mode_b, mtu) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(use_socat=shutil.which("socat") is not None)
    a.netdrv(f"load slip port={cable.a} local={A}/32 peer={B} mode={mode_a} mtu={mtu} baud=921600")
    b.netdrv(f"load slip port={cable.b} local={B}/32 peer={A} mode={mode_b} mtu={mtu} baud=921600")
    assert "POINTOPOINT" in a.run("ip link show sl0").stdout
    assert "NOARP" in a.run("ip link show sl0").stdout
    assert "3 received" in a.run(f"ping -c 3 -i 0.2 -W 2 {B}").stdout
    chash, shash, peer = tcp_transfer(b, a, B, B, 1 << 20, timeout=120)
    assert chash == shash and peer == A
    da, db = link_pair(a, b, "sl0")
    assert da["stats"]["rx_errors"] == 0 and db["stats"]["rx_errors"] == 0
    assert da["stats"]["tx_packets"] == db["stats"]["rx_packets"]
    assert db["stats"]["tx_packets"] == da["stats"]["rx_packets"]
    if mode_a == "cslip":
        # VJ compression really happened on the TCP stream, in both directions.
        assert da["ethtool"]["stats"]["tx_compressed"] > 100
        assert db["ethtool"]["stats"]["rx_compressed"] > 100
        assert db["ethtool"]["stats"]["tx_compressed"] > 10


def test_115200_baud_reaches_90_percent_of_line_rate(netns_factory, cable_factory) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(115200)
    _link(a, b, cable, "mtu=1500 baud=115200")
    size = 120_000
    t0 = time.monotonic()
    chash, shash, _ = tcp_transfer(b, a, B, B, size, timeout=120)
    elapsed = time.monotonic() - t0
    assert chash == shash
    rate = size / elapsed
    assert rate >= 0.90 * 115200 / 10, f"{rate:.0f} B/s is {rate / 11520 * 100:.1f} % of the line"


def test_link_through_ser2net_rfc2217(netns_factory, cable_factory, tmp_path) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(0)
    conf = tmp_path / "ser2net.yaml"
    conf.write_text(
        "connection: &con1\n"
        "  accepter: telnet(rfc2217),tcp,7000\n"
        f"  connector: serialdev,{cable.a},115200n81,local\n"
        "  options:\n"
        "    kickolduser: true\n"
        "    chardelay: false\n"
    )
    with ser2net(a, conf, 7000):
        a.netdrv(
            f"load slip port=rfc2217://127.0.0.1:7000?ign_set_control local={A}/32 peer={B} mtu=1500"
        )
        b.netdrv(f"load slip port={cable.b} local={B}/32 peer={A} mtu=1500")
        assert "3 received" in a.run(f"ping -c 3 -i 0.3 -W 3 {B}").stdout
        chash, shash, _ = tcp_transfer(b, a, B, B, 256 << 10, timeout=120)
        assert chash == shash


def test_cable_pulled_mid_transfer_and_restored(netns_factory, cable_factory) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(921600)
    _link(a, b, cable, "mtu=1500 baud=921600 retry_max=0.5")
    result: dict = {}

    def transfer() -> None:
        try:
            result["r"] = tcp_transfer(b, a, B, B, 600_000, timeout=120)
        except Exception as exc:  # reported below
            result["e"] = exc

    t = threading.Thread(target=transfer)
    t.start()
    time.sleep(1.5)
    before = device(a, "sl0")["stats"]["tx_packets"]
    cable.pull()
    assert wait_for(lambda: "NO-CARRIER" in a.run("ip link show sl0").stdout, timeout=5)
    st = device(a, "sl0")
    assert st["carrier"] is False
    assert st["stats"]["tx_packets"] >= before, "counters survive the outage"
    time.sleep(1.0)
    cable.plug()
    assert wait_for(lambda: device(a, "sl0")["carrier"] and device(b, "sl0")["carrier"],
                    timeout=10)  # fmt: skip
    t.join(timeout=120)
    assert "e" not in result, result.get("e")
    chash, shash, _ = result["r"]
    assert chash == shash
    da = device(a, "sl0")
    assert da["ethtool"]["stats"]["port_losses"] >= 1 and da["ethtool"]["stats"]["reconnects"] >= 1
    s, c = da["stats"], da["core"]
    assert c["tx_submitted"] == s["tx_packets"] + s["tx_dropped"] + s["tx_errors"]


def test_garbage_on_the_line_is_counted_and_survived(netns_factory, cable_factory) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(460800)
    _link(a, b, cable, "mtu=1500 baud=460800")
    for _ in range(5):
        cable.noise()
        time.sleep(0.2)
    chash, shash, _ = tcp_transfer(b, a, B, B, 200_000, timeout=120)
    assert chash == shash
    for _ in range(5):
        cable.noise()
        time.sleep(0.1)
    assert wait_for(
        lambda: device(a, "sl0")["stats"]["rx_errors"] + device(b, "sl0")["stats"]["rx_errors"] > 0
    )
    assert "3 received" in a.run(f"ping -c 3 -i 0.3 -W 3 {B}").stdout


def _icmp_echo(src: str, dst: str, ident: int = 0x1234) -> bytes:
    payload = b"netdrv-interop!!"
    icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, ident, 1) + payload)
    icmp[2:4] = ip_compute_csum(icmp).to_bytes(2, "big")
    total = 20 + len(icmp)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 7, 0, 64, 1, 0,
                               bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))))  # fmt: skip
    ip[10:12] = ip_compute_csum(ip).to_bytes(2, "big")
    return bytes(ip + icmp)


def _exchange(ns: NetNamespace, port_path: str, wire: bytes, decode) -> list[bytes]:
    """Write ``wire`` to the far end of the line and collect decoded frames for a while."""
    import serial

    ser = serial.Serial(port_path, 115200, timeout=0.2)
    try:
        ser.write(wire)
        got: list[bytes] = []
        deadline = time.monotonic() + 5
        buf = b""
        while time.monotonic() < deadline and not got:
            buf += ser.read(4096)
            got = [f for f in decode(buf) if len(f) >= 20 and f[9] == 1]
        return got
    finally:
        ser.close()


def test_interop_with_sliplib_both_ways(netns_factory, cable_factory) -> None:
    sliplib = pytest.importorskip("sliplib")
    a = netns_factory()
    cable = cable_factory(0)
    a.netdrv(f"load slip port={cable.a} local={A}/32 peer={B} mtu=1500")
    req = _icmp_echo(B, A)

    def decode(buf: bytes) -> list[bytes]:
        # Each complete frame (between END bytes) decoded by sliplib itself.
        complete = buf[: buf.rfind(b"\xc0") + 1]
        return [sliplib.decode(f) for f in complete.split(b"\xc0") if f]

    # sliplib 0.7 encodes the escaped body; the END delimiters are the framing.
    replies = _exchange(a, cable.b, b"\xc0" + sliplib.encode(req) + b"\xc0", decode)
    assert replies, "our echo reply must decode with sliplib"
    rep = replies[0]
    assert rep[20] == 0 and rep[12:16] == bytes([198, 18, 5, 1]) and rep[28:] == req[28:]


def test_interop_with_kiss3_both_ways(netns_factory, cable_factory) -> None:
    kiss = pytest.importorskip("kiss")
    a = netns_factory()
    cable = cable_factory(0)
    a.netdrv(f"load slip mode=kiss port={cable.a} local={A}/32 peer={B}")
    req = _icmp_echo(B, A)

    class T:
        data = bytearray()

        def write(self, b: bytes) -> None:
            self.data += b

    proto = kiss.KISSProtocol(transport=T())
    proto.write(req)
    wire = bytes(proto.transport.data)

    def decode(buf: bytes) -> list[bytes]:
        frames = list(kiss.KISSDecode(strip_df_start=False).update(buf))
        return [f[1:] for f in frames if f and f[0] == 0]

    replies = _exchange(a, cable.b, wire, decode)
    assert replies, "our KISS frames must decode with kiss3"
    assert replies[0][20] == 0 and replies[0][28:] == req[28:]


def test_linktest_reports_the_link(netns_factory, cable_factory) -> None:
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(230400)
    _link(a, b, cable, "mtu=1500 baud=230400")
    res = json.loads(a.netdrv("linktest sl0 -d 2 -n 5 --json", timeout=120).stdout)
    assert res["lost"] == 0 and res["rtt_ms"]["min"] > 0
    line = 230400 / 10 * 8
    for key in ("out_bps", "in_bps"):
        assert 0 < res[key] <= line * 1.02
    assert res["max_goodput_bps"] < line
    assert res["local_errors"]["rx_errors"] == 0


def test_linktest_keeps_to_its_duration_on_a_slow_line(netns_factory, cable_factory) -> None:
    # At 9600 baud a socket's default send buffer holds minutes of line time: the
    # throughput phases used to run until it drained, and the report timed out.
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(baud=9600)
    _link(a, b, cable, "mtu=296 baud=9600")
    t0 = time.monotonic()
    res = json.loads(a.netdrv("linktest sl0 -d 2 -n 1 --json", timeout=120).stdout)
    took = time.monotonic() - t0
    # 2 x 2 s of transfer, then the far end's counters (JSON at 960 bytes/s) three times.
    assert took < 20, f"linktest -d 2 took {took:.0f} s on a 9600-baud line"
    for key in ("out_bps", "in_bps"):
        assert 0.5 * res["max_goodput_bps"] < res[key] <= res["line_rate_bps"] * 1.02


def test_port_that_does_not_exist_is_a_clear_error(netns: NetNamespace) -> None:
    res = netns.netdrv("load slip port=/dev/ttyNOPE0 local=198.18.5.1/32", check=False)
    assert res.returncode != 0 and "/dev/ttyNOPE0 does not exist" in res.stderr
    res = netns.netdrv("load slip local=198.18.5.1/32", check=False)
    assert "needs port=PORT" in res.stderr
    res = netns.netdrv("load slip port=loop:// mode=ppp", check=False)
    assert "mode" in res.stderr and "slip" in res.stderr
    assert not netns.pids()


def test_parameters_that_cannot_carry_ip_exit_2_before_anything_starts(netns) -> None:
    """xonxoff and an MTU under IPv4's 68 are refused by netdrv load itself
    (Driver.check_params), as a bad value is: no daemon is started for them."""
    for bad, words in (("xonxoff=1", "use rtscts=1"), ("mtu=40", "68..65534")):
        res = netns.netdrv(f"load slip port=loop:// {bad}", check=False)
        assert res.returncode == 2 and words in res.stderr, (bad, res.returncode, res.stderr)
    assert not netns.pids()


def test_a_cable_end_already_in_use_is_refused(netns_factory, cable_factory) -> None:
    # Two daemons on one end of the cable would each get half of its bytes.
    a, b = netns_factory(), netns_factory()
    cable = cable_factory(0)
    a.netdrv(f"load slip port={cable.a} local={A}/32 peer={B}")
    res = b.netdrv(f"load slip port={cable.a} local={B}/32 peer={A}", check=False)
    assert res.returncode == 1
    assert f"serial port {cable.a} is in use by another program" in res.stderr
    assert "fuser -v" in res.stderr


def test_a_serial_server_that_does_not_answer_leaves_the_daemon_serving(netns) -> None:
    # A ser2net host that is down drops the SYNs: each connect takes pyserial 5 s.
    netns.run("ip link add v0 type veth peer name v1")
    netns.run("ip addr add 198.18.7.1/24 dev v0")
    netns.run("ip link set v0 up")
    netns.run("ip neigh add 198.18.7.2 lladdr 02:00:00:00:00:09 dev v0")  # nobody there
    t0 = time.monotonic()
    netns.netdrv(f"load slip port=socket://198.18.7.2:7001 local={A}/32 wait=1 retry_max=0.5")
    assert time.monotonic() - t0 < 4
    for _ in range(4):
        t0 = time.monotonic()
        assert device(netns, "sl0")["carrier"] is False
        assert time.monotonic() - t0 < 2, "netdrv status waited for the connect"
        time.sleep(0.5)
    t0 = time.monotonic()
    netns.netdrv("unload slip")
    assert time.monotonic() - t0 < 2


def test_two_lines_from_one_machine_are_two_instances(netns_factory, cable_factory) -> None:
    """A hub with two serial cables: `netdrv load slip:b` drives the second line, as slip.c
    drives every tty it is attached to; unloading one leaves the other running."""
    hub, a, b = netns_factory(), netns_factory(), netns_factory()
    use_socat = shutil.which("socat") is not None
    one, two = cable_factory(use_socat=use_socat), cable_factory(use_socat=use_socat)
    hub.netdrv(f"load slip port={one.a} local=198.18.5.1/32 peer=198.18.5.2 baud=921600")
    hub.netdrv(f"load slip:b port={two.a} local=198.18.6.1/32 peer=198.18.6.2 baud=921600")
    a.netdrv(f"load slip port={one.b} local=198.18.5.2/32 peer=198.18.5.1 baud=921600")
    b.netdrv(f"load slip port={two.b} local=198.18.6.2/32 peer=198.18.6.1 baud=921600")
    assert "2 received" in hub.run("ping -c 2 -i 0.2 -W 2 198.18.5.2").stdout
    assert "2 received" in hub.run("ping -c 2 -i 0.2 -W 2 198.18.6.2").stdout
    devices = json.loads(hub.netdrv("status --json").stdout)["devices"]
    assert {d["name"]: (d["driver"], d["instance"]) for d in devices} == {
        "sl0": ("slip", "slip"),
        "sl1": ("slip", "slip:b"),
    }
    # The second line is a slip device like the first: linktest measures it.
    res = json.loads(hub.netdrv("linktest sl1 -d 1 -n 2 --json", timeout=120).stdout)
    assert res["lost"] == 0 and res["rtt_ms"]["min"] > 0, res
    hub.netdrv("unload slip")
    assert "2 received" in hub.run("ping -c 2 -i 0.2 -W 2 198.18.6.2").stdout
    assert hub.run("ip link show sl0", check=False).returncode != 0
