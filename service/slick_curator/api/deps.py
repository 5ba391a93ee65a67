"""Dependencies shared by the routers: the app's services, auth, paging."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from slick_curator.errors import Unauthorized
from slick_curator.jobs import DatasetService, JobManager, ProbeService
from slick_curator.jobs.finetunes import FinetuneManager, FinetuneService
from slick_curator.metrics import Metrics
from slick_curator.results import Results
from slick_curator.settings import Settings
from slick_curator.store import Store


@dataclass
class Services:
    """Everything a request handler may use, built once per app in its lifespan."""

    settings: Settings
    store: Store
    metrics: Metrics
    jobs: JobManager
    datasets: DatasetService
    probes: ProbeService
    finetunes: FinetuneService
    finetune_jobs: FinetuneManager
    results: Results


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="An API key from SLICK_API_KEYS.")


def check_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    """Raise 401 unless keys are off or the bearer token is one of them (constant time)."""
    keys = settings.api_keys
    if not keys:
        return
    if credentials is None:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials.encode()
    match = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        match |= hmac.compare_digest(token, key.encode())
    if not match:
        raise Unauthorized("invalid API key",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    check_key(settings, credentials)


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")]
