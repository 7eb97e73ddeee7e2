"""The runtime endpoints on an exposed server: a separate admin listener and a bearer token."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.e2e.exposure import UPGRADE, ask, make_app
from tests.support import running


async def test_an_admin_port_takes_the_runtime_endpoints_off_the_public_one(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, admin_port=0) as server:
            public, admin = server.port, server.admin_port
            assert public is not None and admin is not None and admin != public
            for path in ("/_roost/metrics", "/_roost/health"):
                assert (await ask(public, "GET", path))[0] == 404
                assert (await ask(admin, "GET", path))[0] == 200
            # The admin listener serves nothing else: no actors, no WebSockets.
            assert (await ask(admin, "GET", "/room/a"))[0] == 404
            assert (await ask(admin, "GET", "/room/a", UPGRADE))[0] == 404
            assert (await ask(public, "GET", "/room/a", UPGRADE))[0] == 101


async def test_an_admin_token_guards_metrics_but_not_the_probes(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, admin_token="s3cret") as server:
            port = server.port
            assert port is not None
            status, headers, body = await ask(port, "GET", "/_roost/metrics")
            assert (status, headers["www-authenticate"]) == (401, "Bearer")
            assert b"s3cret" not in body
            for wrong in ("Bearer nope", "Basic s3cret", "Bearer", "bearer s3cret2", "s3cret"):
                answer = await ask(port, "GET", "/_roost/metrics", [("authorization", wrong)])
                assert answer[0] == 401, wrong
            granted = [("authorization", "Bearer s3cret")]
            status, _, body = await ask(port, "GET", "/_roost/metrics", granted)
            assert status == 200 and b"roost_" in body
            assert (await ask(port, "GET", "/_roost/nope", granted))[0] == 404
            assert (await ask(port, "GET", "/_roost/nope"))[0] == 401  # nothing to probe
            # Load balancers probe health and readiness without credentials.
            assert (await ask(port, "GET", "/_roost/health"))[0] == 200
            assert (await ask(port, "GET", "/_roost/ready"))[0] == 200


async def test_on_the_admin_port_the_token_guards_everything(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, admin_port=0, admin_token="s3cret") as server:
            admin = server.admin_port
            assert admin is not None
            assert (await ask(admin, "GET", "/_roost/health"))[0] == 401
            granted = [("authorization", "Bearer s3cret")]
            assert (await ask(admin, "GET", "/_roost/health", granted))[0] == 200
            assert (await ask(admin, "GET", "/_roost/metrics", granted))[0] == 200
