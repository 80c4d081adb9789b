"""The relay's cost: a ttyd upstream reached directly, and through the Jupyter server's relay.

    python bench/relay.py [--size-mb 100] [--keystrokes 2000]

The upstream is the ttyd stand-in of the tests (tests/ttyd_server.py: ttyd's protocol, a process
per connection), run as its own process. The Jupyter server (its own process too) uses the
Kubernetes backend against kmock's emulated API server, with the shell's status pointing at that
upstream (connect_via=url), so its terminal WebSocket relays the very same ttyd. Measured with our
ttyd client, for both paths:
  - throughput: output of `cat` of a base64 file, bytes received per second;
  - keystroke: one byte typed into `cat` (no tty echo), until it comes back.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from jupyter_cloudtty.ttyd import TtydClient  # noqa: E402
from tests.kube import EmulatorThread, write_kubeconfig  # noqa: E402
from tests.servers import JupyterProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from terminal import make_file, percentiles, type_and_time  # noqa: E402

TOKEN = "bench-token"
KEYS = "stty -echo -icanon min 1; echo READY; exec cat\r"


async def throughput(term: TtydClient, path: Path) -> tuple[int, float]:
    await term.send(f"stty -echo; exec cat {path}\r")
    received, start = 0, time.perf_counter()
    while (chunk := await term.read()) is not None:
        received += len(chunk)
    return received, time.perf_counter() - start


async def keystrokes(term: TtydClient, count: int) -> list[float]:
    await term.send(KEYS)
    await term.expect(rb"\rREADY\r\n")
    return await type_and_time(term, count)


async def main(size_mb: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmulatorThread() as k8s:
        root = Path(tmp)
        path = make_file(root, size_mb)
        megabytes = path.stat().st_size / 1e6
        upstream = subprocess.Popen([sys.executable, "-m", "tests.ttyd_server", "bash", "--norc", "--noprofile"],
                                    stdout=subprocess.PIPE, cwd=Path(__file__).parents[1])  # fmt: skip
        try:
            address = f"127.0.0.1:{int(upstream.stdout.readline())}"
            kubeconfig = write_kubeconfig(root / "kubeconfig", k8s.url)
            args = (
                "--CloudTTY.backend=kubernetes",
                f"--CloudTTY.kubeconfig={kubeconfig}",
                "--CloudTTY.connect_via=url",
            )
            async with JupyterProcess("jupyter_server", root, TOKEN, args=args) as server:

                async def relayed() -> TtydClient:
                    response = await server.fetch("cloudtty/api/shells", "POST", {})
                    name = json.loads(response.body)["name"]
                    status = {"phase": "Ready", "accessUrl": address}
                    await k8s.api.patch("CloudShell", "team", name, {"status": status}, "status")
                    return await server.terminal(name)

                async def direct() -> TtydClient:
                    return await TtydClient.connect(f"ws://{address}/ws")

                rows = {}
                for label, connect in [("direct to ttyd", direct), ("through jupyter-cloudtty", relayed)]:
                    received, elapsed = await throughput(await connect(), path)
                    samples = await keystrokes(await connect(), count)
                    rows[label] = (received / 1e6 / elapsed, *(1000 * v for v in percentiles(samples)))
                await server.stop()
        finally:
            upstream.terminate()
            upstream.wait()

    print(f"\nThe same ttyd upstream: cat of a {megabytes:.0f} MB file; {count} keystrokes")
    print(f"{'path':28} {'MB/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for label, (mbps, p50, p90, p99) in rows.items():
        print(f"{label:28} {mbps:8.1f} {p50:8.3f} {p90:8.3f} {p99:8.3f}")
    (direct_mbps, direct_p50, *_), (relay_mbps, relay_p50, *_) = rows.values()
    print(f"relay / direct throughput: {relay_mbps / direct_mbps:.2f}; "
          f"keystroke p50 added by the relay: {relay_p50 - direct_p50:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="size of the file to cat (default 100)")
    parser.add_argument("--keystrokes", type=int, default=2000, help="keystrokes to time (default 2000)")
    args = parser.parse_args()
    asyncio.run(main(args.size_mb, args.keystrokes))
