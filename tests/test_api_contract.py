"""Schemathesis against the served /openapi.json: generated requests never get a 5xx or an off-schema answer."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def api_schema(api_server):
    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_contract(case, api_server):
    # With the token, so generated job bodies reach validation and the index-root check (never a real index run:
    # generated paths are not folders under the zoo).
    case.call_and_validate(headers={"Authorization": f"Bearer {api_server.token}"})
