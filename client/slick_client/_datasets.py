"""`client.datasets`: upload, get and list datasets (sync and async)."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from slick_client._base import parse, path_id, upload_params
from slick_client._session import AsyncSession, Session
from slick_client._uploads import prepare_upload
from slick_client.schemas import DatasetPublic, DatasetsPublic

__all__ = ["AsyncDatasets", "Datasets"]

OnError = Literal["skip", "fail"]


def _page_params(limit: int | None, offset: int | None) -> dict[str, int]:
    return {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}


class Datasets:
    """Datasets on the server: `client.datasets`."""

    def __init__(self, client: Session) -> None:
        self._client = client

    def upload(
        self,
        source: Any,
        *,
        name: str | None = None,
        format: str | None = None,
        on_error: OnError = "skip",
        question_column: str | None = None,
        answer_column: str | None = None,
        answers_column: str | None = None,
        messages_column: str | None = None,
        id_column: str | None = None,
        group_column: str | None = None,
    ) -> DatasetPublic:
        """Upload a dataset; returns it as stored (the same one again for identical content).

        `source` is a file path (``.jsonl``/``.ndjson``, ``.json``, ``.csv``, ``.parquet``, each
        optionally ``.gz``), a binary file object, a pandas or polars DataFrame, a pyarrow
        Table, or a list of dicts. Files are streamed from disk; in-memory data is written to a
        temporary Parquet file first. `name` defaults to the file's name (the server reads
        EntityQuestions relations from names like ``P36.test.json``); `format` overrides the
        suffix. With ``on_error="skip"`` bad rows are reported in `DatasetPublic.errors`; with
        ``"fail"`` they raise `BadRequestError` whose `.errors` lists them. The `*_column`
        options name the input columns when they differ from the defaults.

        Retried on connection errors and 502/503/504: the server stores content once by hash.
        """
        columns = {
            "question_column": question_column, "answer_column": answer_column,
            "answers_column": answers_column, "messages_column": messages_column,
            "id_column": id_column, "group_column": group_column,
        }
        with prepare_upload(source, name=name, format=format) as body:
            params = upload_params(name=body.name, format=format, on_error=on_error,
                                   columns=columns)
            response = self._client._request(
                "POST", "/v1/datasets", params=params, body=body, retry=body.rewindable
            )
        return parse(DatasetPublic, response)

    def get(self, dataset_id: str) -> DatasetPublic:
        """The dataset with this id (NotFoundError if there is none)."""
        response = self._client._request("GET", f"/v1/datasets/{path_id(dataset_id)}",
                                         retry=True)
        return parse(DatasetPublic, response)

    def list(self, *, limit: int | None = None, offset: int | None = None) -> DatasetsPublic:
        """A page of datasets, newest first, with the total `count`."""
        response = self._client._request("GET", "/v1/datasets",
                                         params=_page_params(limit, offset), retry=True)
        return parse(DatasetsPublic, response)


class AsyncDatasets:
    """Datasets on the server: `client.datasets` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def upload(
        self,
        source: Any,
        *,
        name: str | None = None,
        format: str | None = None,
        on_error: OnError = "skip",
        question_column: str | None = None,
        answer_column: str | None = None,
        answers_column: str | None = None,
        messages_column: str | None = None,
        id_column: str | None = None,
        group_column: str | None = None,
    ) -> DatasetPublic:
        """Upload a dataset; see `Datasets.upload`. File reads happen off the event loop."""
        columns = {
            "question_column": question_column, "answer_column": answer_column,
            "answers_column": answers_column, "messages_column": messages_column,
            "id_column": id_column, "group_column": group_column,
        }
        import anyio.to_thread

        # Serialising a DataFrame can take a while: do it in a worker thread.
        stack = contextlib.ExitStack()
        body = await anyio.to_thread.run_sync(
            stack.enter_context, prepare_upload(source, name=name, format=format)
        )
        with stack:
            params = upload_params(name=body.name, format=format, on_error=on_error,
                                   columns=columns)
            response = await self._client._request(
                "POST", "/v1/datasets", params=params, body=body, retry=body.rewindable
            )
        return parse(DatasetPublic, response)

    async def get(self, dataset_id: str) -> DatasetPublic:
        """The dataset with this id (NotFoundError if there is none)."""
        response = await self._client._request(
            "GET", f"/v1/datasets/{path_id(dataset_id)}", retry=True
        )
        return parse(DatasetPublic, response)

    async def list(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> DatasetsPublic:
        """A page of datasets, newest first, with the total `count`."""
        response = await self._client._request(
            "GET", "/v1/datasets", params=_page_params(limit, offset), retry=True
        )
        return parse(DatasetsPublic, response)

