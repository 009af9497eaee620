"""A loopback stand-in for the few Hugging Face Hub endpoints `HfApi.create_repo` and
`upload_folder` call, so the real push code runs offline against a real HTTP server.

It checks the bearer token, validates README YAML like the Hub's /api/validate-yaml (it must
parse), answers "regular" upload mode for every file (content travels base64 inside the commit;
the LFS/Xet path is not exercised) and keeps every committed file in memory for assertions.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

_REPO = r"/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit)/(?P<rev>[^/?]+)"


@dataclass
class HubState:
    token: str
    repos: dict[tuple[str, str], dict] = field(default_factory=dict)  # (type, id) -> {"private":, "files":}
    requests: list[str] = field(default_factory=list)


def _front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    return yaml.safe_load(match.group(1)) or {} if match else {}


def _handler(state: HubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet test output
            pass

        def _reply(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path = self.path.split("?")[0]
            state.requests.append(path)
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._reply(401, {"error": "Invalid credentials in Authorization header"})
            if path == "/api/repos/create":
                payload = json.loads(body)
                repo_type = payload.get("type", "model")
                repo_id = f"{payload['organization']}/{payload['name']}"
                if (repo_type, repo_id) in state.repos:
                    return self._reply(409, {"error": "You already created this repo"})
                state.repos[(repo_type, repo_id)] = {"private": payload.get("visibility") == "private", "files": {}}
                prefix = "" if repo_type == "model" else f"{repo_type}s/"
                return self._reply(200, {"url": f"http://{self.headers['Host']}/{prefix}{repo_id}"})
            if path == "/api/validate-yaml":
                try:
                    _front_matter(json.loads(body)["content"])
                except yaml.YAMLError as err:
                    return self._reply(400, {"errors": [{"message": str(err)}]})
                return self._reply(200, {"errors": [], "warnings": []})
            match = re.fullmatch(_REPO, path)
            if not match:
                return self._reply(404, {"error": f"no such endpoint {path}"})
            repo = state.repos.get((match["type"][:-1], match["repo"]))
            if repo is None:
                return self._reply(404, {"error": "Repository not found"})
            if match["op"] == "preupload":
                files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                         for f in json.loads(body)["files"]]
                return self._reply(200, {"files": files})
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            oid = hashlib.sha1(body).hexdigest()
            return self._reply(200, {"commitUrl": f"http://{self.headers['Host']}/{match['repo']}/commit/{oid}",
                                     "commitOid": oid})

    return Handler


class LoopbackHub:
    """`with LoopbackHub(token) as hub:` serves on 127.0.0.1; `hub.endpoint`, `hub.state`."""

    def __init__(self, token: str) -> None:
        self.state = HubState(token)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "LoopbackHub":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
