"""``make run`` (claimflow dev up) brings the worklist up with a local provider and demo users."""

from __future__ import annotations

import json
from pathlib import Path

from claimflow.devstack.stack import LocalStack


def test_the_local_stack_runs_the_worklist_signed_in_through_the_local_provider(
    tmp_path: Path,
) -> None:
    stack = LocalStack(state_dir=tmp_path, worklist_port=8090, identity_port=9400)
    plan = {process.name: (process, extra) for process, extra in stack._plan()}
    identity, _ = plan["identity"]
    assert identity.argv[1:3] == ["-m", "oidc_provider_mock"]
    users = [
        json.loads(v)
        for k, v in zip(identity.argv, identity.argv[1:], strict=False)
        if k == "--user-claims"
    ]
    assert {(u["sub"], tuple(u["roles"])) for u in users} == {
        ("poster@example.org", ("poster",)),
        ("viewer@example.org", ("viewer",)),
    }
    worklist, settings = plan["worklist"]
    assert worklist.argv[1:] == ["web"]
    assert worklist.health_url == "http://localhost:8090/readyz"
    assert settings["CLAIMFLOW_WEB__ISSUER"] == "http://127.0.0.1:9400"
    assert settings["CLAIMFLOW_WEB__PUBLIC_URL"] == "http://localhost:8090"
    names = list(plan)
    assert names.index("migrations") < names.index("worklist")
    assert names.index("identity") < names.index("worklist")
