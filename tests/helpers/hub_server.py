"""A local stand-in for the Hugging Face Hub's file-resolve endpoint, for tests (no network).

It answers ``HEAD`` and ``GET`` on ``/{repo_id}/resolve/{revision}/{filename}`` the way the Hub does for
what ``huggingface_hub.hf_hub_download`` reads:

- ``X-Repo-Commit``: the 40-hex commit the revision resolves to (the client refuses a response without it);
- ``ETag`` and ``X-Linked-Etag``: the file's SHA-256, quoted, as the Hub sends for LFS files (the cache blob
  is named after it);
- ``Content-Length`` and ``X-Linked-Size``: the size;
- no ``X-Xet-Hash`` header, so the client takes the plain HTTP download path, never Xet;
- ``404`` with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound`` / ``EntryNotFound`` (and
  ``X-Error-Message``), which ``huggingface_hub`` maps to ``RepositoryNotFoundError`` /
  ``RevisionNotFoundError`` / ``RemoteEntryNotFoundError``.

Every request is recorded in ``requests`` as ``(method, path)``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["HubStandIn"]


@dataclass
class _Repo:
    files: dict[str, bytes]
    commit: str
    branches: set[str] = field(default_factory=lambda: {"main"})


class HubStandIn:
    """Serve folders as Hub model repos on ``http://127.0.0.1:<random port>`` from a background thread."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # silence the default stderr log
                pass

            def do_HEAD(self) -> None:
                stand_in._answer(self, body=False)

            def do_GET(self) -> None:
                stand_in._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def url(self) -> str:
        """Base URL to put in ``HF_ENDPOINT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(
        self,
        repo_id: str,
        folder: str | Path,
        *,
        commit: str | None = None,
        branches: tuple[str, ...] = ("main",),
    ) -> str:
        """Serve the files of ``folder`` as ``repo_id``; return the commit hash its branches resolve to."""
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()
        }
        if commit is None:
            digest = hashlib.sha1(repo_id.encode())
            for name in sorted(files):
                digest.update(name.encode() + hashlib.sha256(files[name]).digest())
            commit = digest.hexdigest()
        self.repos[repo_id] = _Repo(files=files, commit=commit, branches=set(branches))
        return commit

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self.running = False

    # ------------------------------------------------------------------------------------------------

    def _error(
        self, handler: BaseHTTPRequestHandler, code: str, message: str, commit: str | None = None
    ) -> None:
        handler.send_response(404)
        handler.send_header("X-Error-Code", code)
        handler.send_header("X-Error-Message", message)
        if commit is not None:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _answer(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, path))
        parts = path.strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._error(handler, "RepoNotFound", "Repository not found")
            return
        repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
        revision = unquote(parts[3])
        filename = "/".join(unquote(p) for p in parts[4:])
        repo = self.repos.get(repo_id)
        if repo is None:
            self._error(handler, "RepoNotFound", "Repository not found")
            return
        if revision not in repo.branches and revision != repo.commit:
            self._error(handler, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        data = repo.files.get(filename)
        if data is None:
            self._error(handler, "EntryNotFound", f"{filename} does not exist", commit=repo.commit)
            return
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", repo.commit)
        handler.send_header("ETag", etag)
        handler.send_header("X-Linked-Etag", etag)
        handler.send_header("X-Linked-Size", str(len(data)))
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        if body:
            handler.wfile.write(data)
