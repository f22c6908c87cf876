"""`sgguard serve` against real initiators: libiscsi tools and QEMU's iscsi driver."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sgguard.iscsi.pdu import ScsiCommand, ScsiResponse

from .conftest import (
    ALLOWED,
    CHAP_SECRET,
    CHAP_USER,
    PREFIX,
    Served,
    SocketPeer,
    make_image,
    need,
    start_serve,
    stop_serve,
    tools_env,
)

pytestmark = pytest.mark.network


def run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, env=tools_env()
    )


def outside_hash(image: Path, start: int, size: int) -> str:
    data = image.read_bytes()
    return hashlib.sha256(data[:start] + data[start + size :]).hexdigest()


def test_serve_iscsi_ls_lists_targets_and_luns(served: Served) -> None:
    r = run("iscsi-ls", f"iscsi://{served.host}:{served.port}")
    assert r.returncode == 0, r.stderr
    names = {
        line.split()[0].split(":", 1)[1]
        for line in r.stdout.splitlines()
        if line.startswith("Target:")
    }
    assert names == {f"{PREFIX}:{n}" for n in ("part1", "part2", "conf", "chap")}  # acl hidden
    assert f"Portal:127.0.0.1:{served.port},1" in r.stdout
    # REPORT LUNS (iscsi-ls -s logs in to each target, the ACL'd one first, and
    # stops at the CHAP one)
    r = run("iscsi-ls", "-s", "-i", ALLOWED, f"iscsi://{served.host}:{served.port}")
    assert "Lun:0" in r.stdout and "Lun:3" in r.stdout, r.stdout


def test_serve_iscsi_inq_reports_the_slice_identity(served: Served) -> None:
    r = run("iscsi-inq", served.url("part1"))
    assert r.returncode == 0, r.stderr
    assert "Vendor:SGGUARD" in r.stdout
    r = run("iscsi-inq", "-e", "1", "-c", "128", served.url("part1"))
    assert r.returncode == 0, r.stderr
    r2 = run("iscsi-inq", "-e", "1", "-c", "128", served.url("part2"))
    assert r.stdout != r2.stdout  # each slice has its own identifier


def test_serve_readcapacity16_is_the_slice_size(served: Served) -> None:
    r = run("iscsi-readcapacity16", served.url("part1"))
    assert r.returncode == 0, r.stderr
    _start, size = served.slices["part1"]
    assert f"Total size:{size}" in r.stdout


@pytest.mark.slow
def test_serve_qemu_io_write_read_compare_confined(served: Served) -> None:
    need("qemu-io")
    start, size = served.slices["part1"]
    before = outside_hash(served.image, start, size)
    url = served.url("part1")
    r = run(
        "qemu-io",
        "-f",
        "raw",
        "-c",
        "write -P 0x5a 0 1M",
        "-c",
        f"write -P 0xa5 {size - 65536} 64k",
        "-c",
        "read -P 0x5a 0 1M",
        "-c",
        f"read -P 0xa5 {size - 65536} 64k",
        url,
    )
    assert r.returncode == 0 and "Pattern verification failed" not in r.stdout, r.stdout + r.stderr
    # writing past the end of the slice fails and changes nothing outside
    r = run("qemu-io", "-f", "raw", "-c", f"write -P 0xee {size} 4k", url)
    assert "Pattern" not in r.stdout
    time.sleep(0.2)
    data = served.image.read_bytes()
    assert data[start : start + (1 << 20)] == b"\x5a" * (1 << 20)
    assert outside_hash(served.image, start, size) == before


@pytest.mark.slow
def test_serve_qemu_img_convert_round_trip(served: Served, tmp_path: Path) -> None:
    need("qemu-img")
    src = tmp_path / "src.raw"
    src.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    url = served.url("part2")
    r = run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(src), url, timeout=120)
    assert r.returncode == 0, r.stderr
    back = tmp_path / "back.raw"
    r = run(
        "qemu-img", "dd", "-f", "raw", "-O", "raw", f"if={url}", f"of={back}", "bs=1M", "count=2"
    )
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == src.read_bytes()


def test_serve_read_only_lun_refuses_writes_and_logs_it(served: Served) -> None:
    peer = SocketPeer(served.host, served.port)
    try:
        assert peer.login(f"{PREFIX}:part2").status_class == 0
        cdb = bytes((0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0))
        for _ in range(3):  # the first answers carry unit attentions (power on)
            peer.send(
                ScsiCommand(
                    itt=peer.itt, cdb=cdb, lun=3, write=True, expected_length=512,
                    cmdsn=peer.cmdsn, data=b"x" * 512,
                )
            )  # fmt: skip
            peer.itt += 1
            peer.cmdsn += 1
            resp = peer.recv()
            assert isinstance(resp, ScsiResponse) and resp.status == 2
            sense = bytes(resp.data)[2:]
        assert sense[2] & 0x0F == 0x07  # DATA PROTECT
    finally:
        peer.close()
    time.sleep(0.3)
    refused = [e for e in served.logs() if e.get("event") == "refused"]
    assert any(e.get("lun") == 3 and "read-only" in e.get("rule", "") for e in refused), refused


def test_serve_chap_login(served: Served) -> None:
    ok = run("iscsi-inq", served.url("chap", auth=f"{CHAP_USER}%{CHAP_SECRET}@"))
    assert ok.returncode == 0, ok.stderr
    bad = run("iscsi-inq", served.url("chap", auth=f"{CHAP_USER}%wrong-secret-0000@"))
    assert bad.returncode != 0
    assert "Authentication failure" in bad.stdout + bad.stderr
    none = run("iscsi-inq", served.url("chap"))
    assert none.returncode != 0


def test_serve_acl_refuses_other_initiators(served: Served) -> None:
    bad = run("iscsi-inq", served.url("acl"))
    assert bad.returncode != 0
    assert "Authorization failure" in bad.stdout + bad.stderr
    ok = run("iscsi-inq", "-i", ALLOWED, served.url("acl"))
    assert ok.returncode == 0, ok.stderr
    fails = [e for e in served.logs() if e.get("event") == "login-failed"]
    assert any("not in the ACL" in e.get("detail", "") for e in fails)


def test_serve_metrics_endpoint(served: Served) -> None:
    run("iscsi-inq", served.url("part1"))
    body = urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10)
    text = body.read().decode()
    assert f'sgguard_iscsi_commands_total{{lun="0",target="{PREFIX}:part1"}}' in text
    assert "sgguard_iscsi_command_latency_seconds_bucket" in text
    assert "sgguard_iscsi_logins_total" in text


def test_serve_json_logs_have_session_events(served: Served) -> None:
    run("iscsi-inq", served.url("part1"))
    time.sleep(0.2)
    events = {e.get("event") for e in served.logs()}
    assert {"login", "logout"} <= events
    login = next(e for e in served.logs() if e.get("event") == "login")
    assert login["initiator"].startswith("iqn.") and login["peer"].startswith("127.0.0.1:")


def test_serve_sigterm_drains_and_exits_zero(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    make_image(image)
    s = start_serve(tmp_path, image)
    bench = subprocess.Popen(
        ["qemu-img", "bench", "-w", "-f", "raw", "-c", "200000", "-d", "8", "-s", "4096",
         s.url("part1")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(timeout=30)
    bench.kill()
    bench.wait()
    assert rc == 0
    assert time.monotonic() - t0 < 15
    events = [e.get("event") for e in s.logs()]
    assert "shutdown" in events and "stopped" in events


def test_serve_port_in_use_is_a_clear_error(served: Served, tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sgguard",
            "serve",
            "--config",
            str(served.config),
            "--portal",
            f"127.0.0.1:{served.port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "address already in use" in r.stderr and "Traceback" not in r.stderr


def test_serve_bad_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[[target]]\nname = "iqn.2026-11.x:y"\n[[target.lun]]\nlun = 0\nslice = "nope"\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "sgguard", "serve", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "target[0].lun[0].slice" in r.stderr and "Traceback" not in r.stderr


def test_serve_stop_fixture_cleanly(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    make_image(image)
    s = start_serve(tmp_path, image)
    assert run("iscsi-inq", s.url("part2")).returncode == 0
    assert stop_serve(s) == 0


def test_serve_without_config_creates_the_default_once(tmp_path: Path) -> None:
    env = dict(tools_env(), XDG_DATA_HOME=str(tmp_path / "xdg"))
    for attempt in ("created", "using"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "sgguard", "serve", "--portal", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        lines = []
        port = 0
        while not port:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        while not lines[-1].lstrip().startswith("qemu-system-x86_64"):
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert f"{attempt} data folder {tmp_path / 'xdg' / 'sgguard'}" in text
        assert "iqn.2026-11.io.sgguard:disk0.part1" in text
        assert "iqn.2026-11.io.sgguard:disk0.part2" in text
        assert "iscsi-ls" in text and "scsi-block" in text
        r = run(
            "iscsi-readcapacity16", f"iscsi://127.0.0.1:{port}/iqn.2026-11.io.sgguard:disk0.part2/0"
        )
        assert r.returncode == 0, r.stderr
        image = tmp_path / "xdg" / "sgguard" / "disk0.img"
        assert image.stat().st_size == 1 << 30
        assert image.stat().st_blocks * 512 < 16 << 20  # sparse
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_serve_mutual_chap_with_libiscsi(served: Served) -> None:
    from .conftest import MUTUAL_SECRET, MUTUAL_USER

    auth = f"{CHAP_USER}%{CHAP_SECRET}@"
    ok = run(
        "iscsi-inq",
        served.url("chap", auth=auth)
        + f"?target_user={MUTUAL_USER}&target_password={MUTUAL_SECRET}",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the initiator checks our answer: a wrong target secret fails on its side
    bad = run(
        "iscsi-inq",
        served.url("chap", auth=auth)
        + f"?target_user={MUTUAL_USER}&target_password=not-the-target-secret",
    )
    assert bad.returncode != 0


def test_serve_header_digest_with_qemu(served: Served) -> None:
    need("qemu-io")
    opts = (
        f"driver=iscsi,transport=tcp,portal={served.host}:{served.port},"
        f"target={PREFIX}:part2,lun=0,header-digest=crc32c"
    )
    r = run(
        "qemu-io",
        "--image-opts",
        "-c",
        "write -P 0x3c 4096 128k",
        "-c",
        "read -P 0x3c 4096 128k",
        opts,
    )
    assert r.returncode == 0 and "verification failed" not in r.stdout, r.stdout + r.stderr
    time.sleep(0.2)
    logins = [
        e
        for e in served.logs()
        if e.get("event") == "login" and "digests CRC32C/" in e.get("detail", "")
    ]
    assert logins
