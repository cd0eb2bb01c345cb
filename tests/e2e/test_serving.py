"""Safe by default: `make run` serves only this machine; `make serve` serves a room, locked down.

The servers are started with the commands the README and docs give and reached through 127.0.0.1
only; what they listen on is read from the kernel's socket table (/proc/net/tcp), never by connecting
elsewhere.
"""

import ipaddress
import tomllib
from pathlib import Path

import pytest

from tests.e2e.browser import ROOT, chromium_page, dashboard_process, open_page

pytestmark = pytest.mark.browser
LISTEN = "0A"


def listening(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != LISTEN or int(hex_port, 16) != port:
                continue
            # each 32-bit word is stored in host (little-endian) byte order
            words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, width, 8)]
            found.add(str(ipaddress.ip_address(b"".join(words))))
    return found


def test_the_socket_table_reader_reads_this_machines_sockets():
    with dashboard_process() as server:  # the config file's address: loopback
        port = int(server.url.rsplit(":", 1)[1])
        assert listening(port) == {"127.0.0.1"}
        assert listening(port + 1 if port < 65535 else port - 1) == set()


def test_make_run_listens_on_this_machine_only():
    with dashboard_process(make_target="run") as server:
        port = int(server.url.rsplit(":", 1)[1])
        addresses = listening(port)
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


def test_make_serve_listens_for_a_room_and_says_what_browsers_may_not_do():
    with dashboard_process(make_target="serve") as server, chromium_page(1400, 1400) as page:
        port = int(server.url.rsplit(":", 1)[1])
        assert listening(port) & {"0.0.0.0", "::"}  # every interface
        open_page(page, server.url, "", "What browsers may do on this server")
        text = page.locator('[data-testid="stMain"]').inner_text()
        (ROOT / "tests" / "artifacts").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ROOT / "tests" / "artifacts" / "Overview_room.png"), full_page=True)
    assert "listens beyond this machine" in text
    assert "may not unpickle uploaded files" in text and "may not name python: model or data specs" in text


def test_xsrf_protection_and_cors_stay_on_and_the_docs_say_so():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server.get("enableXsrfProtection", True) is True and server.get("enableCORS", True) is True
    serving = (ROOT / "docs" / "serving.md").read_text()
    assert "make serve" in serving and "XSRF protection" in serving and "CORS" in serving
