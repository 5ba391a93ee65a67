"""`client.datasets`: upload, get and list datasets (sync and async)."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Literal, TypedDict, Unpack

from slick_client._base import parse, path_id, upload_params
from slick_client._calls import Call, Offload, Plan
from slick_client._session import AsyncSession, Session
from slick_client._uploads import UploadBody, prepare_upload
from slick_client.schemas import DatasetPublic, DatasetsPublic

__all__ = ["AsyncDatasets", "ColumnOptions", "Datasets"]

OnError = Literal["skip", "fail"]


class ColumnOptions(TypedDict, total=False):
    """The input columns of an upload, where they differ from the server's defaults."""

    question_column: str
    answer_column: str
    answers_column: str
    messages_column: str
    id_column: str
    group_column: str


def upload_call(body: UploadBody, *, format: str | None, on_error: str,
                columns: dict[str, Any]) -> Call[DatasetPublic]:
    """POST /v1/datasets; retried only when the body can be sent again (the server stores a
    content once, by hash)."""
    unknown = sorted(set(columns) - set(ColumnOptions.__annotations__))
    if unknown:
        raise TypeError(f"upload() got unexpected keyword argument(s): {', '.join(unknown)}")
    params = upload_params(name=body.name, format=format, on_error=on_error, columns=columns)
    return Call("POST", "/v1/datasets", retry=body.rewindable, params=params, body=body,
                parse=functools.partial(parse, DatasetPublic))


def upload_plan(source: Any, *, name: str | None, format: str | None, on_error: str,
                columns: dict[str, Any]) -> Plan[DatasetPublic]:
    """Prepare the body (off the event loop: a DataFrame is written to Parquet first), then
    send it; temporary files go when the plan ends."""
    with contextlib.ExitStack() as stack:
        body = yield Offload(stack.enter_context, (prepare_upload(source, name=name,
                                                                   format=format),))
        return (yield upload_call(body, format=format, on_error=on_error, columns=columns))


def get_call(dataset_id: str) -> Call[DatasetPublic]:
    return Call("GET", f"/v1/datasets/{path_id(dataset_id)}", retry=True,
                parse=functools.partial(parse, DatasetPublic))


def list_call(limit: int | None, offset: int | None) -> Call[DatasetsPublic]:
    params = {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}
    return Call("GET", "/v1/datasets", retry=True, params=params,
                parse=functools.partial(parse, DatasetsPublic))


class Datasets:
    """Datasets on the server: `client.datasets`."""

    def __init__(self, client: Session) -> None:
        self._client = client

    def upload(self, source: Any, *, name: str | None = None, format: str | None = None,
               on_error: OnError = "skip", **columns: Unpack[ColumnOptions]) -> DatasetPublic:
        """Upload a dataset; returns it as stored (the same one again for identical content).

        `source` is a file path (``.jsonl``/``.ndjson``, ``.json``, ``.csv``, ``.parquet``, each
        optionally ``.gz``), a binary file object, a pandas or polars DataFrame, a pyarrow
        Table, or a list of dicts. Files are streamed from disk; in-memory data is written to a
        temporary Parquet file first. `name` defaults to the file's name (the server reads
        EntityQuestions relations from names like ``P36.test.json``); `format` overrides the
        suffix. With ``on_error="skip"`` bad rows are reported in `DatasetPublic.errors`; with
        ``"fail"`` they raise `BadRequestError` whose `.errors` lists them. The `*_column`
        options (`question_column`, `answer_column`, `answers_column`, `messages_column`,
        `id_column`, `group_column`) name the input columns when they differ from the defaults.

        Retried on connection errors and 502/503/504: the server stores content once by hash.
        """
        return self._client._run(upload_plan(source, name=name, format=format,
                                             on_error=on_error, columns=dict(columns)))

    def get(self, dataset_id: str) -> DatasetPublic:
        """The dataset with this id (NotFoundError if there is none)."""
        return self._client._run(get_call(dataset_id))

    def list(self, *, limit: int | None = None, offset: int | None = None) -> DatasetsPublic:
        """A page of datasets, newest first, with the total `count`."""
        return self._client._run(list_call(limit, offset))


class AsyncDatasets:
    """Datasets on the server: `client.datasets` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def upload(self, source: Any, *, name: str | None = None,
                     format: str | None = None, on_error: OnError = "skip",
                     **columns: Unpack[ColumnOptions]) -> DatasetPublic:
        """Upload a dataset; see `Datasets.upload`. File work happens off the event loop."""
        return await self._client._run(upload_plan(source, name=name, format=format,
                                                   on_error=on_error, columns=dict(columns)))

    async def get(self, dataset_id: str) -> DatasetPublic:
        """See `Datasets.get`."""
        return await self._client._run(get_call(dataset_id))

    async def list(self, *, limit: int | None = None, offset: int | None = None
                   ) -> DatasetsPublic:
        """See `Datasets.list`."""
        return await self._client._run(list_call(limit, offset))
