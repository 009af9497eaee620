"""Start argilla-server 2.8 against the in-memory OpenSearch emulator (osmem-server).

Runs INSIDE the server's own virtual environment (argilla-server pins old libraries, so it never
shares the project's); it imports nothing from vlcultura. `vlcultura.review.server` launches it
with `ARGILLA_*` settings in the environment.

Why a launcher instead of `python -m argilla_server start`:
- osmem-server runs no Painless scripts, and argilla-server scripts exactly three updates (a
  response upserted or deleted, a suggestion deleted: the reviewer UI's paths). The engine below
  does those as GET + re-index of the document, serialised by a lock, under the engine name
  `opensearch` that the server looks up in its registry.
- It migrates the SQLite database, creates the owner once and re-indexes every dataset from the
  database before serving, in one process (a few seconds instead of three CLI start-ups). The
  re-index is what makes a restart safe: the emulator's index lives in memory, the database on
  disk, and a server killed mid-push may have committed rows it never indexed.
- The owner's password and API key come from the environment (`VLCULTURA_ARGILLA_OWNER_*`),
  never from the command line (visible to every user in `ps`), and are never printed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from typing import Any, Callable

from argilla_server.cli.database.migrate import migrate_db
from argilla_server.cli.database.users.create_default import create_default
from argilla_server.cli.search_engine.reindex import reindex
from argilla_server.search_engine import SearchEngine
from argilla_server.search_engine.commons import es_index_name_for_dataset
from argilla_server.search_engine.opensearch import OpenSearchEngine

_DOCUMENT_LOCK = asyncio.Lock()  # one read-modify-write at a time: no lost update between two reviewers


@SearchEngine.register(engine_name="opensearch")
class ScriptlessOpenSearchEngine(OpenSearchEngine):
    """argilla-server's OpenSearch engine with its scripted updates done as GET + re-index."""

    async def _rewrite(self, index: str, doc_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        async with _DOCUMENT_LOCK:
            source = (await self.client.get(index=index, id=doc_id))["_source"]
            change(source)
            await self.client.index(index=index, id=doc_id, body=source, refresh=True)

    async def update_record_response(self, response: Any) -> None:
        es_response = self._map_record_response_to_es(response)

        def change(source: dict[str, Any]) -> None:
            kept = [r for r in source.get("responses") or [] if str(r.get("id")) != str(es_response["id"])]
            source["responses"] = [*kept, es_response]

        record = response.record
        await self._rewrite(es_index_name_for_dataset(record.dataset), str(record.id), change)

    async def delete_record_response(self, response: Any) -> None:
        response_id = str(response.id)

        def change(source: dict[str, Any]) -> None:
            source["responses"] = [r for r in source.get("responses") or [] if str(r.get("id")) != response_id]

        record = response.record
        await self._rewrite(es_index_name_for_dataset(record.dataset), str(record.id), change)

    async def delete_record_suggestion(self, suggestion: Any) -> None:
        def change(source: dict[str, Any]) -> None:
            (source.get("suggestions") or {}).pop(suggestion.question.name, None)

        await self._rewrite(es_index_name_for_dataset(suggestion.record.dataset), str(suggestion.record_id), change)


def _exit_with_parent(pid: int) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        time.sleep(2)


def main() -> None:
    """Prepare the database and index, then serve on loopback until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone (no orphan server)")
    args = parser.parse_args()
    if args.parent_pid:
        threading.Thread(target=_exit_with_parent, args=(args.parent_pid,), daemon=True).start()

    migrate_db("head")
    api_key = os.environ.pop("VLCULTURA_ARGILLA_OWNER_API_KEY", "")
    password = os.environ.pop("VLCULTURA_ARGILLA_OWNER_PASSWORD", "")
    if api_key and password:
        create_default(api_key=api_key, password=password, quiet=True)  # no-op when the owner exists
    reindex(dataset_id=None)

    import uvicorn

    uvicorn.run("argilla_server:app", host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
