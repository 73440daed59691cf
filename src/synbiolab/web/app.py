"""The FastAPI application behind ``synbiolab serve``: the page, the HTTP API and its error answers.

Every route reads; none writes into a run folder. A request names a run by the id the index gave it and a
file by one of the names a run folder is known to hold, never by a path. Every mistake in a request is
answered with a 4xx and a JSON body ``{"error": "what is wrong", "valid": [...what would be]}``.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import models
from .index import RunIndex, finite, flatten, is_safe_name, read_history, read_json, read_table, run_status

STATIC = Path(__file__).parent / "static"

# Limits of one request (the numbers): larger inputs are refused before any work is done.
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
MAX_SEQUENCES = 10_000
MAX_LETTERS = 10_000
MAX_SAMPLES = 1000

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
# A run's own HTML (report.html, sweep.html) is shown as a document, never allowed to run a script.
REPORT_POLICY = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; sandbox"


# --- errors


class ErrorBody(BaseModel):
    """What every refused request gets back."""

    error: str = Field(description="what is wrong, in one line")
    valid: list[Any] | None = Field(None, description="what would be valid instead (when it can be listed)")


class WebError(Exception):
    """A refused request: an HTTP status, one line and, where it helps, what would be valid."""

    def __init__(self, status: int, message: str, valid: list | None = None):
        super().__init__(message)
        self.status, self.message, self.valid = status, message, valid


class SafeJSONResponse(JSONResponse):
    """JSON with NaN and infinities as null (a diverged run's loss must not turn into a server error)."""

    def render(self, content) -> bytes:
        return json.dumps(finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=str).encode("utf-8")


def _error(status: int, message: str, valid: list | None = None, headers: dict | None = None) -> SafeJSONResponse:
    body = {"error": message}
    if valid is not None:
        body["valid"] = valid
    return SafeJSONResponse(body, status_code=status, headers=headers)


ERRORS = {code: {"model": ErrorBody, "description": text} for code, text in (
    (404, "unknown run or file"), (409, "the run is of another kind, or broken"), (413, "the input is too large"),
    (415, "unsupported content type"), (422, "the input is invalid"))}


# --- requests


class SequenceRequest(BaseModel):
    """Sequences for a sequence model: a list of strings, or text (one sequence a line, or FASTA)."""

    sequences: list[str] | None = Field(None, description="sequences, one string each")
    text: str | None = Field(None, description="raw sequences one a line, or FASTA records")
    ism: bool = Field(False, description="also return the in-silico mutagenesis map of one sequence")
    ism_index: int = Field(0, ge=0, description="which sequence (0-based) gets the mutagenesis map")


class SampleRequest(BaseModel):
    """What to draw from a GAN run."""

    n: int = Field(16, ge=1, le=MAX_SAMPLES, description="number of samples")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the latent vectors")
    digit: int | None = Field(None, ge=0, le=10**6, description="class to draw (class-conditional GANs)")
    interpolate: bool = Field(False, description="also walk straight lines between latent vectors")
    steps: int = Field(10, ge=2, le=32, description="points on each interpolation line")


def parse_text(text: str) -> list[tuple[str, str]]:
    """Raw sequences (one a line) or FASTA records -> (name, letters) pairs; blank lines are skipped."""
    records: list[tuple[str, str]] = []
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    if any(line.startswith(">") for line in lines):
        name, parts = None, []
        for number, line in enumerate(lines, 1):
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(parts)))
                name, parts = line[1:].strip() or f"record {len(records) + 1}", []
            elif name is None:
                raise WebError(422, f"line {number}: sequence letters before the first '>' header of the FASTA text")
            else:
                parts.append("".join(line.split()))
        if name is not None:
            records.append((name, "".join(parts)))
        return records
    return [(f"seq{i + 1}", "".join(line.split())) for i, line in enumerate(line for line in lines if line)]


def _records(request: SequenceRequest) -> list[tuple[str, str]]:
    if request.sequences is not None and request.text is not None:
        raise WebError(422, "give either 'sequences' or 'text', not both")
    if request.sequences is not None:
        records = [(f"seq{i + 1}", "".join(s.split())) for i, s in enumerate(request.sequences)]
    elif request.text is not None:
        records = parse_text(request.text)
    else:
        records = []
    if not records:
        raise WebError(422, "no sequences: give 'sequences' (a list of strings) or 'text' (one a line, or FASTA)")
    if len(records) > MAX_SEQUENCES:
        raise WebError(413, f"{len(records):,} sequences; at most {MAX_SEQUENCES:,} per request")
    for i, (name, letters) in enumerate(records):
        if not letters:
            raise WebError(422, f"sequence {i + 1} ({name}) is empty")
        if len(letters) > MAX_LETTERS:
            raise WebError(413, f"sequence {i + 1} ({name}) has {len(letters):,} letters; at most {MAX_LETTERS:,}")
    if request.ism and request.ism_index >= len(records):
        raise WebError(422, f"ism_index {request.ism_index}: there are {len(records)} sequences",
                       list(range(len(records)))[:50])
    return records


async def _body(request: Request) -> bytes:
    """The request body, refused past MAX_BODY_BYTES whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise WebError(422, f"Content-Length {declared!r} is not a number") from None
        if size > MAX_BODY_BYTES:
            raise WebError(413, f"body of {size:,} bytes; at most {MAX_BODY_BYTES:,} (5 MB)")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise WebError(413, f"body over {MAX_BODY_BYTES:,} bytes (5 MB)")
        chunks.append(chunk)
    return b"".join(chunks)


def _open_picture(data: bytes):
    """A PIL image from bytes, checked before its pixels are decoded."""
    import io

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise WebError(422, "empty body: send a picture (PNG, JPEG, BMP, GIF or TIFF)")
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise WebError(422, "not an image: send a PNG, JPEG, BMP, GIF or TIFF picture") from None
    width, height = img.size
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise WebError(413, f"image of {width} x {height} pixels; at most {MAX_IMAGE_SIDE} x {MAX_IMAGE_SIDE}")
    if width < 1 or height < 1:
        raise WebError(422, f"image of {width} x {height} pixels holds nothing to read")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise WebError(422, "the image is damaged or truncated: its pixels cannot be decoded") from None
    return img


async def _form_file(request: Request, body: bytes) -> bytes:
    """The first file of a multipart body (read from the bytes already taken, within the size limit)."""
    from starlette.datastructures import UploadFile

    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=4, max_fields=20)
    except Exception:  # noqa: BLE001 - the multipart parser's errors are the sender's malformed body
        raise WebError(422, "malformed multipart body: send the picture in a form field named 'file'") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
    if upload is None:
        raise WebError(422, "the multipart body holds no file: send the picture in a form field named 'file'",
                       ["file"])
    return await upload.read()


# --- the application


def create_app(runs: str | Path = "runs", poll_seconds: float = 0.5, idle_timeout: float = 6 * 3600) -> FastAPI:
    """The web application on a runs folder.

    Args:
        runs: the folder whose runs the page shows.
        poll_seconds: how often a live event stream looks for new history rows.
        idle_timeout: a stream ends after this many seconds without a change in its run.

    Returns:
        The FastAPI application.
    """
    root = Path(runs)
    if not root.is_dir():
        raise models.SynbiolabError(f"{runs}: no such folder (give the runs folder with --runs)")
    index = RunIndex(root)
    app = FastAPI(title="synbiolab", version="1", docs_url=None, redoc_url=None,
                  default_response_class=SafeJSONResponse,
                  description="The runs of one runs folder: their tables, curves, diagnoses and models. "
                              "Every refused request answers 4xx with {\"error\", \"valid\"}.")
    app.state.index = index
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- answers to mistakes, all JSON

    @app.exception_handler(WebError)
    async def _web_error(_request, exc: WebError):
        return _error(exc.status, exc.message, exc.valid)

    @app.exception_handler(models.SynbiolabError)
    async def _user_error(_request, exc):
        message = str(exc).splitlines()[0] if str(exc) else "invalid request"
        # The package's messages name files by their full path; the page names them under the runs folder.
        return _error(422, message.replace(str(index.root) + "/", "").replace(str(root.absolute()) + "/", ""))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        return _error(422, _validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, exc: StarletteHTTPException):
        message = {404: "no such page or API route", 405: "method not allowed on this route"}.get(
            exc.status_code, str(exc.detail))
        return _error(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"body of {int(declared):,} bytes; at most {MAX_BODY_BYTES:,} (5 MB)")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    # --- the page

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY,
                                                            "Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="synbiolab API",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False})

    # --- lookups

    def entry_of(run_id: str):
        entry = index.get(run_id)
        if entry is None:
            raise WebError(404, f"unknown run '{run_id[:80]}'; GET /api/runs lists the runs", index.ids()[:50])
        return entry

    def require(entry, kinds: tuple[str, ...], what: str, where=None):
        row = entry.row
        if row.get("status") == "broken":
            raise WebError(409, f"run '{entry.id}' is broken: {row.get('problem')}")
        if row.get("kind") not in kinds or (where is not None and not where(row)):
            valid = index.ids(kinds, lambda r: r.get("has_model") and (where is None or where(r)))
            raise WebError(409, f"run '{entry.id}' is a {_describe(row)}; {what}", valid[:50])
        if not row.get("has_model"):
            raise WebError(409, f"run '{entry.id}' has no saved model yet (status {row.get('status')})")

    # --- the API

    def encode(rows: list[dict]) -> bytes:
        return SafeJSONResponse({"root": index.display_root, "count": len(rows), "runs": rows}).body

    @app.get("/api/runs", summary="Every folder under the runs folder, as table rows",
             responses={200: {"content": {"application/json": {}}, "description": "{root, count, runs: [rows]}"}})
    def list_runs():
        return Response(index.encoded_rows(encode), media_type="application/json")

    @app.get("/api/runs/{run_id}", summary="One run: config, metrics, diagnosis, files", responses=ERRORS)
    def get_run(run_id: str) -> dict:
        entry = entry_of(run_id)
        return _detail(index, entry)

    @app.get("/api/runs/{run_id}/history", summary="history.csv as columns", responses=ERRORS)
    def get_history(run_id: str) -> dict:
        entry = entry_of(run_id)
        if entry.row.get("kind") not in ("train", "gan") and entry.row.get("status") != "broken":
            raise WebError(409, f"run '{run_id}' is a {_describe(entry.row)} folder; only train and gan runs "
                           "have a history", index.ids(("train", "gan"))[:50])
        history = read_history(entry.path / "history.csv")
        return {"id": run_id, "status": entry.row.get("status"), "best_epoch": entry.row.get("best_epoch"), **history}

    @app.get("/api/runs/{run_id}/events", summary="Server-sent events: one per new history row, then the end",
             responses={**ERRORS, 200: {"content": {"text/event-stream": {}},
                                        "description": "events `row` (data: one history row) and `end`"}},
             response_class=StreamingResponse)
    async def events(run_id: str, request: Request):
        entry = entry_of(run_id)
        if entry.row.get("kind") not in ("train", "gan"):
            raise WebError(409, f"run '{run_id}' is a {_describe(entry.row)} folder; only train and gan runs "
                           "have a history to stream", index.ids(("train", "gan"))[:50])
        last = request.headers.get("last-event-id", "0")
        start = int(last) if last.isdigit() else 0
        stream = _event_stream(entry.path, request, start, poll_seconds, idle_timeout)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/runs/{run_id}/predict", summary="Predict: a picture for image models, sequences for "
              "sequence models", responses=ERRORS, openapi_extra={"requestBody": {"required": True, "content": {
                  "image/png": {"schema": {"type": "string", "format": "binary"}},
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
                  "application/json": {"schema": SequenceRequest.model_json_schema()}}}})
    async def predict(run_id: str, request: Request) -> dict:
        entry = entry_of(run_id)
        row = entry.row
        if row.get("kind") != "train" or row.get("task") not in ("multiclass", "binary", "regression"):
            require(entry, ("train",), "predict takes an image classifier or a sequence model (GAN runs are "
                    "sampled with POST /sample)")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await _body(request)
        if row.get("data_kind") == "sequence":
            require(entry, ("train",), "sequences need a sequence model")
            if content_type == "multipart/form-data":
                text = (await _form_file(request, body)).decode("utf-8", errors="replace")
                parsed = SequenceRequest(text=text)
            elif content_type in ("application/json", ""):
                if not body:
                    raise WebError(422, "empty body: send JSON {\"sequences\": [...], \"ism\": false}")
                try:
                    parsed = SequenceRequest.model_validate_json(body)
                except ValidationError as exc:
                    raise WebError(422, _validation_message(exc.errors(), "body")) from None
            elif content_type.startswith("text/"):
                parsed = SequenceRequest(text=body.decode("utf-8", errors="replace"))
            else:
                raise WebError(415, f"Content-Type {content_type}: a sequence model takes JSON sequences",
                               ["application/json", "text/plain", "multipart/form-data"])
            records = _records(parsed)
            result, ms = await run_in_threadpool(models.timed, models.sequence_prediction, entry.path, records,
                                                 parsed.ism_index if parsed.ism else None)
            return _timed({"id": run_id, "kind": "sequence", **result}, ms)
        require(entry, ("train",), "a picture needs an image classifier",
                lambda r: r.get("data_kind") == "image" and r.get("task") in ("multiclass", "binary"))
        if content_type == "multipart/form-data":
            data = await _form_file(request, body)
        elif content_type.startswith("image/") or content_type in ("application/octet-stream", ""):
            data = body
        else:
            raise WebError(415, f"Content-Type {content_type or 'none'}: an image model takes a picture",
                           ["image/png", "image/jpeg", "multipart/form-data"])
        picture = _open_picture(data)
        result, ms = await run_in_threadpool(models.timed, models.image_prediction, entry.path, picture)
        return _timed({"id": run_id, "kind": "image", **result}, ms)

    @app.post("/api/runs/{run_id}/sample", summary="Samples of a GAN run for a seed", responses=ERRORS)
    async def sample(run_id: str, body: SampleRequest | None = None) -> dict:
        entry = entry_of(run_id)
        require(entry, ("gan",), "sampling needs a GAN run")
        request = body or SampleRequest()
        result, ms = await run_in_threadpool(models.timed, models.gan_samples, entry.path, request.n,
                                             request.seed, request.digit)
        out = {"id": run_id, "n": request.n, "seed": request.seed, "digit": request.digit, **result}
        if result["kind"] == "sequence":
            out["fasta"] = "".join(f">sample_{i + 1} seed={request.seed}\n{s}\n"
                                   for i, s in enumerate(result["sequences"]))
        if request.interpolate:
            out["interpolation"], extra = await run_in_threadpool(models.timed, models.gan_interpolation, entry.path,
                                                                  request.seed, request.digit, request.steps)
            ms += extra
        return _timed(out, ms)

    @app.get("/api/runs/{run_id}/files/{name:path}", summary="A file a run folder is known to hold",
             responses={**ERRORS, 200: {"content": {"text/html": {}, "image/png": {}, "text/csv": {}}}},
             response_class=Response)
    def get_file(run_id: str, name: str):
        entry = entry_of(run_id)
        if not is_safe_name(name):
            raise WebError(404, f"'{name[:80]}' is not a file a run folder is known to hold",
                           sorted(_present_files(entry.path)))
        path = entry.path / name
        real = index._inside(path)
        if real is None or (real != entry.path and entry.path not in real.parents) or not real.is_file():
            raise WebError(404, f"run '{run_id}' holds no file '{name}'", sorted(_present_files(entry.path)))
        media = {".html": "text/html", ".png": "image/png", ".svg": "image/svg+xml", ".csv": "text/csv",
                 ".json": "application/json", ".txt": "text/plain", ".fasta": "text/plain"}.get(real.suffix,
                                                                                                 "text/plain")
        headers = {"Content-Security-Policy": REPORT_POLICY} if real.suffix in (".html", ".svg") else {}
        return FileResponse(real, media_type=media, headers=headers)

    return app


# --- helpers of the routes


def _describe(row: dict) -> str:
    if row.get("status") == "broken":
        return "broken folder"
    kind = row.get("kind") or "unknown"
    if kind == "train":
        return f"{row.get('data_kind') or '?'} {row.get('task') or '?'} run"
    if kind == "gan":
        return f"{row.get('data_kind') or '?'} GAN run"
    return f"{kind} folder"


def _validation_message(errors: list, default_place: str = "") -> str:
    parts = []
    for err in errors[:3]:
        place = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or default_place or "request"
        parts.append(f"{place}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _timed(result: dict, ms: float) -> SafeJSONResponse:
    result["server_ms"] = round(ms, 2)
    return SafeJSONResponse(result, headers={"Server-Timing": f"model;dur={ms:.2f}"})


def _present_files(path: Path) -> list[str]:
    from .index import SERVED_FILES

    names = [n for n in SERVED_FILES if (path / n).is_file()]
    figures = path / "figures"
    if figures.is_dir():
        names += [f"figures/{p.name}" for p in sorted(figures.iterdir()) if is_safe_name(f"figures/{p.name}")
                  and p.is_file()]
    return names


def _fix_commands(index: RunIndex, entry, diagnosis: dict) -> list[dict]:
    place = f"{index.display_root.rstrip('/')}/{entry.relative}"
    fixes = []
    for number, fix in enumerate(diagnosis.get("fixes") or [], 1):
        if isinstance(fix, dict):
            fixes.append({**fix, "command": f"synbiolab fix {shlex.quote(place)} --apply {number}"})
    return fixes


def _predictions(path: Path, spec: dict | None) -> dict | None:
    """predictions.csv of a train run, read for the page: confusion matrix and mistakes, or the scatter."""
    table = read_table(path / "predictions.csv", limit=200000)
    columns = [c.strip() for c in table["columns"]]
    if not columns:
        return None
    lower = [c.lower() for c in columns]

    def find(*names):
        for name in names:
            for j, c in enumerate(lower):
                if c == name or c.startswith(name + "_"):
                    return j
        return None

    target, predicted = find("target", "y_true", "true", "label", "measured", "y"), find(
        "prediction", "predicted", "pred", "y_pred")
    ident = find("id", "name")
    out = {"columns": columns, "n": len(table["rows"]), "head": table["rows"][:20]}
    if target is None or predicted is None or not table["rows"]:
        return out
    rows = [r for r in table["rows"] if len(r) > max(target, predicted)]
    task = (spec or {}).get("task")
    if task == "regression":
        pairs = [(r[target], r[predicted]) for r in rows if isinstance(r[target], (int, float))
                 and isinstance(r[predicted], (int, float))]
        if len(pairs) > 1:
            import numpy as np

            a = np.asarray(pairs, dtype=float)
            r = float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) if a[:, 0].std() > 0 and a[:, 1].std() > 0 else None
            out["scatter"] = {"measured": a[:2000, 0].tolist(), "predicted": a[:2000, 1].tolist(), "pearson_r": r,
                              "target": columns[target], "n": len(pairs)}
        return out
    names = [str(c) for c in ((spec or {}).get("class_names") or [])]

    def label(value):
        text = str(value)
        if text in names:
            return names.index(text)
        if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= int(value) < len(names):
            return int(value)
        return None

    if not names:
        return out
    matrix = [[0] * len(names) for _ in names]
    mistakes = []
    for r in rows:
        t, p = label(r[target]), label(r[predicted])
        if t is None or p is None:
            continue
        matrix[t][p] += 1
        if t != p and len(mistakes) < 100:
            mistakes.append({"id": r[ident] if ident is not None else None, "target": names[t], "predicted": names[p]})
    out["confusion"] = {"classes": names, "matrix": matrix}
    out["mistakes"] = mistakes
    return out


def _detail(index: RunIndex, entry) -> dict:
    row, path = entry.row, entry.path
    out: dict[str, Any] = {"id": entry.id, "row": row, "files": sorted(_present_files(path)),
                           "children": index.children(entry.id)}
    if row.get("status") == "broken":
        return out
    for name in ("config", "metrics", "diagnosis", "model"):
        try:
            out[name] = read_json(path / f"{name}.json")
        except models.SynbiolabError as exc:
            out[name] = None
            out.setdefault("problems", []).append(str(exc))
    if isinstance(out.get("config"), dict):
        out["flat_config"] = flatten(out["config"])
    if isinstance(out.get("diagnosis"), dict):
        out["diagnosis"]["fixes"] = _fix_commands(index, entry, out["diagnosis"])
    if (path / "predictions.csv").is_file():
        out["predictions"] = _predictions(path, out.get("model") if isinstance(out.get("model"), dict) else None)
    kind = row.get("kind")
    if kind == "sweep":
        out["table"] = read_table(path / "sweep.csv")
    elif kind == "compare":
        out["table"] = read_table(path / "table.csv")
    elif kind == "cv":
        out["table"] = read_table(path / "folds.csv")
        cv = read_json(path / "cv.json") or {}
        out["summary"] = cv.get("summary")
    return out


def _new_rows(path: Path, sent: int) -> list[str]:
    """The `row` events for the history rows after the first `sent`."""
    history = read_history(path / "history.csv")
    events = []
    for number, values in enumerate(history["rows"][sent:], sent + 1):
        row = dict(zip(history["columns"], values, strict=False))
        events.append(f"id: {number}\nevent: row\ndata: {json.dumps(finite(row), allow_nan=False)}\n\n")
    return events


async def _event_stream(path: Path, request: Request, start: int, poll: float, idle_timeout: float):
    """Server-sent events: `row` for each history row after `start`, then `end` when the run stops.

    The loop is bounded: it ends when the client goes, when the run ends, or after `idle_timeout`
    seconds in which the folder did not change.
    """
    sent = start
    yield "retry: 2000\n\n"
    last_change, last_stamp, beat = time.monotonic(), None, time.monotonic()
    while True:
        if await request.is_disconnected():
            return
        try:
            stat = (path / "history.csv").stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        metrics_path = path / "metrics.json"
        if stamp != last_stamp:
            last_stamp, last_change = stamp, time.monotonic()
            for event in _new_rows(path, sent):
                sent += 1
                yield event
        metrics = None
        if metrics_path.is_file():
            try:
                metrics = read_json(metrics_path)
            except models.SynbiolabError:
                metrics = None  # being replaced: read it on the next pass
        status = run_status(path, metrics, sent > 0)
        idle = time.monotonic() - last_change
        if status not in ("running", "starting") or idle > idle_timeout:
            for event in _new_rows(path, sent):  # the last epoch's row may have landed after the read above
                sent += 1
                yield event
            if status in ("running", "starting"):
                status = "idle"
            end = {"status": status, "rows": sent,
                   "best_epoch": metrics.get("best_epoch") if isinstance(metrics, dict) else None}
            yield f"event: end\ndata: {json.dumps(finite(end), allow_nan=False)}\n\n"
            return
        if time.monotonic() - beat > 15:
            beat = time.monotonic()
            yield ": still running\n\n"
        await asyncio.sleep(poll)
