"""Prometheus metrics and health endpoints, scraped over real HTTP from a running App
(``DLW_METRICS_PORT``): what an operator's Prometheus and an orchestrator's probes see."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.config import Settings
from bot.delivery import RateLimited
from bot.model import DeliveryStatus, Subscription, SubscriptionKind
from tests.helpers import cli_environment, run_cli, wait_for
from tests.test_publishing import ScriptedPlatform

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")


@dataclass
class Platform(ScriptedPlatform):
    """A started platform whose connection a test can drop (``ready``)."""

    platform: str = "mx"
    ready: bool = True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@pytest.fixture
async def metrics_app(settings: Settings) -> AsyncIterator[App]:
    configured = settings.model_copy(update={"metrics_port": 0, "publish_schedule": "off"})
    async with App.create(configured, local_platforms=LOCAL_PLATFORMS) as app:
        yield app


async def get(app: App, path: str) -> tuple[int, str]:
    assert app.metrics is not None
    url = f"http://127.0.0.1:{app.metrics.bound_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def test_deliveries_429s_and_outbox_depth_are_scraped(metrics_app: App) -> None:
    app = metrics_app
    for n in range(5):
        await app.store.subscribe("mx", f"r{n}", [PYTORCH])
    platform = Platform(script={"r0": [RateLimited(0.2, "slow down")]})
    async with app.running([platform]):
        _, before = await get(app, "/metrics")
        await app.publisher.publish(206)
        await wait_for(lambda: len(platform.sent) == 5, "five digests, one after a 429")

        async def settled() -> bool:  # the last send's outcome is recorded after it returns
            counts = (await app.store.outbox_counts()).get("mx", {})
            return counts.get(DeliveryStatus.SENT, 0) == 5

        await wait_for(settled, "the five deliveries recorded as sent")
        status, text = await get(app, "/metrics")
    assert status == 200
    sent = value(text, "dlw_messages_total", platform="mx", outcome="sent")
    assert sent - value(before, "dlw_messages_total", platform="mx", outcome="sent") == 5
    limited = value(text, "dlw_messages_total", platform="mx", outcome="rate_limited")
    assert limited - value(before, "dlw_messages_total", platform="mx", outcome="rate_limited") == 1
    where = {"platform": "mx", "handled_by": "dispatcher"}
    assert (
        value(text, "dlw_rate_limited_total", **where)
        - value(before, "dlw_rate_limited_total", **where)
        == 1
    )
    waits = value(text, "dlw_rate_limit_wait_seconds_sum", **where)
    assert waits - value(before, "dlw_rate_limit_wait_seconds_sum", **where) == 0.2
    assert value(text, "dlw_outbox_rows", platform="mx", status="sent") == 5
    assert value(text, "dlw_outbox_rows", platform="mx", status="pending") == 0


async def test_the_queue_and_its_oldest_wait_on_a_process_that_does_not_dispatch(
    metrics_app: App,
) -> None:
    app = metrics_app
    app.settings = app.settings.model_copy(update={"roles": ("bot", "schedule")})
    for n in range(3):
        await app.store.subscribe("mx", f"r{n}", [PYTORCH])
    platform = Platform()
    async with app.running([platform]):
        assert app.dispatchers == []  # another process's job
        await app.publisher.publish(206)
        _, text = await get(app, "/metrics")
    assert value(text, "dlw_outbox_rows", platform="mx", status="pending") == 3
    assert value(text, "dlw_outbox_oldest_pending_seconds", platform="mx") >= 0
    assert ("dlw_outbox_oldest_pending_seconds", frozenset({("platform", "mx")})) in samples(text)
    assert platform.sent == []


async def test_command_latency_is_a_histogram_by_command(metrics_app: App) -> None:
    app = metrics_app
    async with app.running([Platform()]):
        _, before = await get(app, "/metrics")
        ctx = app.adapter_services.context("mx", "7", "7")
        reply = await app.registry.dispatch_text(ctx, "/latest")
        assert reply is not None
        _, text = await get(app, "/metrics")
    count = value(text, "dlw_command_duration_seconds_count", command="latest")
    assert count - value(before, "dlw_command_duration_seconds_count", command="latest") == 1
    assert value(text, "dlw_command_duration_seconds_bucket", command="latest", le="+Inf") >= 1


async def test_health_and_readiness(metrics_app: App) -> None:
    app = metrics_app
    platform = Platform()
    async with app.running([platform]):
        assert await get(app, "/healthz") == (200, "ok\n")
        assert await get(app, "/readyz") == (200, "ready\n")
        platform.ready = False  # its connection dropped
        assert await get(app, "/readyz") == (503, "not ready: the mx adapter is not connected\n")
        platform.ready = True
        await app.store.close()  # the database is gone
        status, text = await get(app, "/readyz")
        assert status == 503 and text.startswith("not ready: ")
        assert (await get(app, "/healthz"))[0] == 200  # alive all the same: don't restart it
    assert app.metrics is None  # the port is closed with the app's platforms


async def test_no_port_no_server(app: App) -> None:
    async with app.running([Platform()]):
        assert app.metrics is None


def test_a_bad_port_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="less than or equal to 65535"):
        Settings(metrics_port=70000)


def test_a_taken_metrics_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "run",
            cwd=tmp_path,
            env={
                "DLW_DISCORD_TOKEN": "x.y.z",
                "DLW_DISCORD_API_URL": "http://127.0.0.1:9",  # never reached: metrics come first
                "DLW_METRICS_PORT": str(port),
            },
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: DLW_METRICS_PORT: can't listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr


def test_commands_that_serve_nothing_never_load_the_http_server(tmp_path: Path) -> None:
    """Counting costs nothing: `dlw-bot status`, `publish` or `shell -c` import the metrics
    counters but not aiohttp (a few hundred milliseconds with its CA bundle), which only the
    metrics server and the platform adapters need."""
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "for argv in (['status'], ['publish', '--dry-run'], ['shell', '-c', '/latest']):\n"
        "    assert main(argv) == 0, argv\n"
        "print('loaded:', sorted(m for m in sys.modules if m.partition('.')[0] == 'aiohttp'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_environment({"DLW_DATABASE": str(tmp_path / "bot.sqlite3")}),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: []"
