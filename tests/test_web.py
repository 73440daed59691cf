"""synbiolab serve's HTTP API: every endpoint, every refused request, the security rules, a fuzz pass."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import math
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image, ImageDraw  # noqa: E402

from test_web_support import HAS_PROMOTERS, build_runs, curve, fake_run, live_server

ECOLI_PROMOTER = "tactagcaatacgcttgcgttcggtggttaagtatgtataatgcgcgggcttgtcgt"  # UCI promoter, +


@pytest.fixture(scope="session")
def runs():
    return build_runs()


@pytest.fixture(scope="session")
def client(runs):
    from fastapi.testclient import TestClient

    from synbiolab.web import create_app

    with TestClient(create_app(runs["root"], poll_seconds=0.05)) as c:
        yield c


def ident(runs, name):
    return runs["ids"][name]


def digit_png(kind: str = "zero", size: int = 200) -> bytes:
    """A picture of a digit drawn as a person would: dark ink on white paper."""
    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    s = size / 200
    if kind == "zero":
        draw.ellipse((60 * s, 30 * s, 140 * s, 170 * s), outline=0, width=int(14 * s))
    else:
        draw.line((100 * s, 25 * s, 100 * s, 175 * s), fill=0, width=int(14 * s))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def tree_digest(root: Path) -> str:
    """Names, sizes and contents of every file under root (links not followed): any write changes it."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            h.update(str(path).encode())
            continue
        h.update(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# --- the run table


def test_table_lists_every_folder_with_kinds_and_numbers(client, runs):
    body = client.get("/api/runs").json()
    rows = {r["path"]: r for r in body["runs"]}
    assert "escape" not in rows and not any("secret" in p for p in rows)  # the link out is not followed
    cnn = rows["digits-cnn"]
    metrics = json.loads((runs["root"] / "digits-cnn" / "metrics.json").read_text())
    assert (cnn["kind"], cnn["status"], cnn["data"], cnn["model"], cnn["task"]) == (
        "train", "finished", "digits", "cnn", "multiclass")
    assert cnn["test_metric_name"] == "accuracy" and cnn["test_metric"] == pytest.approx(metrics["test"]["accuracy"])
    assert cnn["n_parameters"] == metrics["n_parameters"] and cnn["epochs"] == 6
    assert cnn["best_val_error"] == pytest.approx(metrics["val"]["error"])
    assert rows["digits-gan"]["kind"] == "gan" and rows["digits-gan"]["conditional"] is True
    assert rows["sweep-lr"]["kind"] == "sweep" and rows["sweep-lr"]["points"] == 1
    assert rows["sweep-lr/runs/lr-0.01"]["parent"] == ident(runs, "sweep-lr")


def test_runs_differing_only_in_seed_share_a_group(client):
    rows = {r["path"]: r for r in client.get("/api/runs").json()["runs"]}
    assert rows["seeds/mlp-seed0"]["group"] == rows["seeds/mlp-seed1"]["group"]
    assert rows["seeds/mlp-lr01"]["group"] != rows["seeds/mlp-seed0"]["group"]


def test_broken_half_written_and_diverged_runs_show_as_such(client, runs):
    rows = {r["path"]: r for r in client.get("/api/runs").json()["runs"]}
    assert rows["broken"]["status"] == "broken" and "config.json" in rows["broken"]["problem"]
    assert rows["half"]["status"] == "interrupted" and rows["half"]["epochs"] == 4  # the torn row is dropped
    assert rows["diverged"]["status"] == "diverged" and "NaN at step 17" in rows["diverged"]["problem"]
    history = client.get(f"/api/runs/{ident(runs, 'diverged')}/history").json()
    assert history["rows"][-1][2] is None  # NaN travels as null, not as a server error
    broken = client.post(f"/api/runs/{ident(runs, 'broken')}/predict", content=digit_png(),
                         headers={"content-type": "image/png"})
    assert broken.status_code == 409 and "broken" in broken.json()["error"]


def test_run_detail_has_config_metrics_files_and_fix_commands(client, runs):
    detail = client.get(f"/api/runs/{ident(runs, 'digits-cnn')}").json()
    assert detail["config"]["model"]["name"] == "cnn" and detail["metrics"]["status"] == "finished"
    assert detail["flat_config"]["train.epochs"] == 6
    assert {"report.html", "figures/learning_curves.png", "figures/confusion_matrix.png"} <= set(detail["files"])
    diagnosed = client.get(f"/api/runs/{ident(runs, 'with-predictions')}").json()
    fix = diagnosed["diagnosis"]["fixes"][0]
    assert fix["command"].endswith("with-predictions --apply 1") and fix["command"].startswith("synbiolab fix ")
    assert diagnosed["predictions"]["confusion"]["matrix"] == [[1, 0, 1], [0, 2, 0], [0, 1, 0]]
    assert {"id": 2, "target": "2", "predicted": "1"} in diagnosed["predictions"]["mistakes"]
    scatter = client.get(f"/api/runs/{ident(runs, 'regression')}").json()["predictions"]["scatter"]
    assert scatter["measured"] == [1.0, 2.0, 3.0, 4.0] and scatter["pearson_r"] > 0.98
    sweep = client.get(f"/api/runs/{ident(runs, 'sweep-lr')}").json()
    assert sweep["table"]["columns"][:2] == ["run", "train.lr"] and sweep["children"][0]["path"].endswith("lr-0.01")


def test_history_matches_the_file(client, runs):
    body = client.get(f"/api/runs/{ident(runs, 'digits-cnn')}/history").json()
    lines = (runs["root"] / "digits-cnn" / "history.csv").read_text().strip().splitlines()
    assert body["columns"] == lines[0].split(",") and len(body["rows"]) == len(lines) - 1 == 6
    assert body["rows"][-1][body["columns"].index("val_error")] == pytest.approx(float(lines[-1].split(",")[7]))


def test_events_of_a_finished_run_send_every_row_then_the_end(client, runs):
    with client.stream("GET", f"/api/runs/{ident(runs, 'digits-cnn')}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    rows = [json.loads(block.split("data: ", 1)[1]) for block in text.split("\n\n") if "event: row" in block]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "event: end" in text and '"status": "finished"' in text


def test_events_follow_a_run_while_it_is_written(runs):
    """A writer appends history rows, then metrics.json; the stream sends each row once, then ends."""
    import httpx

    folder = fake_run(runs["base"] / "live-runs" / "growing", epochs=1, finished=False)
    rows = curve(5)

    def write():
        for n in range(2, 6):
            time.sleep(0.3)
            text = (folder / "history.csv").read_text().splitlines()[0] + "\n"
            text += "".join(",".join(str(v) for v in r.values()) + "\n" for r in rows[:n])
            (folder / "history.csv.tmp").write_text(text)
            (folder / "history.csv.tmp").replace(folder / "history.csv")
        (folder / "metrics.json").write_text('{"status": "finished", "best_epoch": 5}')

    from synbiolab.web.index import run_id

    with live_server(folder.parent, poll_seconds=0.05) as base:
        writer = threading.Thread(target=write)
        writer.start()
        seen, end = [], None
        with httpx.stream("GET", f"{base}/api/runs/{run_id('growing')}/events", timeout=20) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "row":
                    seen.append(json.loads(line[6:])["epoch"])
                elif line.startswith("data: ") and event == "end":
                    end = json.loads(line[6:])
                    break
        writer.join()
    assert seen == [1, 2, 3, 4, 5] and end == {"status": "finished", "rows": 5, "best_epoch": 5}


# --- predictions


def test_a_drawn_zero_is_read_as_zero_with_the_input_and_feature_maps(client, runs):
    answer = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", content=digit_png("zero"),
                         headers={"content-type": "image/png"}).json()
    assert answer["top"]["class"] == "0" and answer["top"]["probability"] > 0.5
    assert answer["classes"] == [str(i) for i in range(10)] and sum(answer["probabilities"]) == pytest.approx(1, 1e-5)
    from synbiolab.data.images import to_mnist_style

    expected = to_mnist_style(Image.open(io.BytesIO(digit_png("zero"))), size=8, fill=1.0)
    assert answer["input"]["pixels"] == expected.tolist()  # what the 8x8 model reads, as `synbiolab predict` makes it
    maps = answer["feature_maps"]
    assert (maps["channels"], maps["height"], maps["width"]) == (16, 8, 8) and "Conv2d" in maps["layer"]
    assert answer["server_ms"] > 0


def test_the_page_reads_a_picture_as_synbiolab_predict_does(client, runs, tmp_path):
    picture = tmp_path / "one.png"
    picture.write_bytes(digit_png("one", size=120))
    [(_, expected)] = synbiolab_predict(runs["root"] / "digits-cnn", picture)
    files = {"file": ("one.png", picture.read_bytes(), "image/png")}
    answer = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", files=files).json()
    assert answer["probabilities"] == pytest.approx([expected[c] for c in answer["classes"]], abs=1e-5)


def synbiolab_predict(run, picture):
    from synbiolab import predict_images

    return predict_images(run, [picture])


@pytest.mark.skipif(not HAS_PROMOTERS, reason="uci_promoters is not in SYNBIOLAB_DATA")
def test_sequences_get_predictions_and_a_mutagenesis_map_with_boxes(client, runs):
    text = f">promoter\n{ECOLI_PROMOTER[:30]}\n{ECOLI_PROMOTER[30:]}\n>short\nACGTACGTAC\n"
    answer = client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict",
                         json={"text": text, "ism": True}).json()
    assert [p["name"] for p in answer["predictions"]] == ["promoter", "short"]
    spec = json.loads((runs["root"] / "promoters-cnn1d" / "model.json").read_text())
    assert answer["outputs"] == spec["class_names"] and answer["task"] == "binary"
    first = answer["predictions"][0]
    assert first["length"] == 57 and sum(first["values"]) == pytest.approx(1, 1e-5)
    assert answer["predictions"][1]["fitted"].startswith("padded to 57")
    ism = answer["ism"]
    assert len(ism["effects"]) == 4 and len(ism["effects"][0]) == 57 and ism["sequence"] == ECOLI_PROMOTER.upper()
    reference = [ism["effects"]["ACGT".index(base)][j] for j, base in enumerate(ism["sequence"])]
    assert all(v == 0 for v in reference)  # a letter changed to itself changes nothing
    boxes = {b["name"]: b for b in ism["boxes"]}
    at = ECOLI_PROMOTER.upper().find("TATAAT")
    assert boxes["-10"]["start"] == at and boxes["-10"]["present"] and boxes["-35"]["start"] < at
    # Editing one base moves the prediction by exactly the map's entry for that base (the logit, binary task).
    edited = ECOLI_PROMOTER[:at] + "C" + ECOLI_PROMOTER[at + 1:]
    changed = client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict",
                          json={"sequences": [edited]}).json()["predictions"][0]["values"]

    def logit(p):
        return math.log(p / (1 - p))

    assert logit(changed[1]) - logit(first["values"][1]) == pytest.approx(ism["effects"][1][at], abs=1e-3)


def test_a_bad_letter_is_named_with_its_position(client, runs):
    response = client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict",
                           json={"sequences": ["ACGTACGT", "ACGTXCGT"]})
    assert response.status_code == 422
    assert response.json()["error"] == ("sequence 2 (seq2): letter 'X' at position 5 is not valid DNA; valid: ACGT "
                                        "or the ambiguity codes NRYSWKMBDHV")


def test_gan_samples_a_chosen_digit_and_an_interpolation(client, runs):
    answer = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample",
                         json={"n": 6, "seed": 3, "digit": 7, "interpolate": True, "steps": 5}).json()
    assert answer["classes"] == ["7"] * 6 and len(answer["images"]) == 6 and len(answer["images"][0]) == 8
    again = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample", json={"n": 6, "seed": 3, "digit": 7}).json()
    assert again["images"] == answer["images"]  # a seed draws the same samples
    other = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample", json={"n": 6, "seed": 4, "digit": 7}).json()
    assert other["images"] != answer["images"]
    walk = answer["interpolation"]
    assert (walk["lines"], walk["steps"], len(walk["images"])) == (4, 5, 20)
    bad = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample", json={"digit": 12})
    assert bad.status_code == 422 and bad.json()["error"].startswith("digit 12: not a class of this GAN; valid: 0, 1")


@pytest.mark.skipif(not HAS_PROMOTERS, reason="uci_promoters is not in SYNBIOLAB_DATA")
def test_sequence_gan_gives_fasta_and_the_batch_quality(client, runs):
    answer = client.post(f"/api/runs/{ident(runs, 'promoter-gan')}/sample", json={"n": 40, "seed": 0}).json()
    assert len(answer["sequences"]) == 40 and all(len(s) == 57 and set(s) <= set("ACGT") for s in answer["sequences"])
    assert answer["fasta"].startswith(">sample_1 seed=0\n" + answer["sequences"][0])
    quality = answer["quality"]
    assert quality["n"] == 40 and -1 <= quality["kmer_r"] <= 1 and 0 <= quality["rate_10"] <= 1
    assert quality["n_heldout"] >= 2


def test_report_and_figures_are_served(client, runs):
    report = client.get(f"/api/runs/{ident(runs, 'digits-cnn')}/files/report.html")
    assert report.status_code == 200 and report.text.startswith("<!doctype html>")
    assert "sandbox" in report.headers["content-security-policy"]  # its own HTML never runs a script here
    figure = client.get(f"/api/runs/{ident(runs, 'digits-cnn')}/files/figures/learning_curves.png")
    assert figure.headers["content-type"] == "image/png" and figure.content[:4] == b"\x89PNG"


# --- refused requests: each a 4xx with a JSON error


@pytest.mark.parametrize("method,path,kwargs,status,message", [
    ("get", "/api/runs/no-such-run", {}, 404, "unknown run 'no-such-run'"),
    ("get", "/api/runs/no-such-run/history", {}, 404, "unknown run"),
    ("post", "/api/runs/no-such-run/predict", {"content": b"x"}, 404, "unknown run"),
])
def test_unknown_runs_are_404_with_the_valid_ids(client, runs, method, path, kwargs, status, message):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status and message in response.json()["error"]
    assert ident(runs, "digits-cnn") in response.json()["valid"]


def test_wrong_kinds_of_run_are_refused_with_the_runs_that_fit(client, runs):
    png = {"content": digit_png(), "headers": {"content-type": "image/png"}}
    gan = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/predict", **png)
    assert gan.status_code == 409 and "GAN runs are sampled" in gan.json()["error"]
    sample = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/sample", json={})
    assert sample.status_code == 409 and ident(runs, "digits-gan") in sample.json()["valid"]
    picture_to_dna = client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict", **png)
    assert picture_to_dna.status_code == 415 and "application/json" in picture_to_dna.json()["valid"]
    dna_to_picture = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", json={"sequences": ["ACGT"]})
    assert dna_to_picture.status_code == 415
    events = client.get(f"/api/runs/{ident(runs, 'sweep-lr')}/events")
    assert events.status_code == 409 and "sweep folder" in events.json()["error"]
    history = client.get(f"/api/runs/{ident(runs, 'sweep-lr')}/history")
    assert history.status_code == 409


def big_png(width, height) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.parametrize("body,content_type,status,message", [
    (b"", "image/png", 422, "empty body"),
    (b"GIF89a-not-really", "image/gif", 422, "not an image"),
    (b"plain words", "image/png", 422, "not an image"),
    ("big", "image/png", 413, "image of 4097 x 16 pixels; at most 4096 x 4096"),
    (b"x" * (5 * 1024 * 1024 + 1), "image/png", 413, "at most 5,242,880"),
    (b"{}", "application/xml", 415, "an image model takes a picture"),
])
def test_bad_pictures_are_refused(client, runs, body, content_type, status, message):
    data = big_png(4097, 16) if body == "big" else body
    response = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", content=data,
                           headers={"content-type": content_type})
    assert response.status_code == status and message in response.json()["error"]


def test_multipart_without_a_file_is_refused(client, runs):
    response = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", data={"note": "no file"},
                           files={"other": ("", b"")})
    assert response.status_code == 422


@pytest.mark.parametrize("payload,status,message", [
    ({}, 422, "no sequences"),
    ({"sequences": []}, 422, "no sequences"),
    ({"sequences": ["ACGT", ""]}, 422, "sequence 2 (seq2) is empty"),
    ({"sequences": ["A"] * 10_001}, 413, "10,001 sequences; at most 10,000"),
    ({"sequences": ["A" * 10_001]}, 413, "has 10,001 letters; at most 10,000"),
    ({"sequences": ["ACGT"], "ism": True, "ism_index": 3}, 422, "ism_index 3: there are 1 sequences"),
    ({"sequences": "ACGT"}, 422, "sequences"),
    ({"sequences": ["ACGT"], "text": "ACGT"}, 422, "not both"),
    ({"text": "ACGT\n>late header\nACGT"}, 422, "before the first '>'"),
])
def test_bad_sequence_requests_are_refused(client, runs, payload, status, message):
    response = client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict", json=payload)
    assert response.status_code == status and message in response.json()["error"]


def test_empty_and_malformed_json_bodies_are_refused(client, runs):
    url = f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict"
    empty = client.post(url, content=b"", headers={"content-type": "application/json"})
    assert empty.status_code == 422 and "empty body" in empty.json()["error"]
    broken = client.post(url, content=b'{"sequences": [', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "json" in broken.json()["error"].lower()


@pytest.mark.parametrize("payload,message", [
    ({"n": 0}, "n: Input should be greater than or equal to 1"),
    ({"n": 1001}, "n: Input should be less than or equal to 1000"),
    ({"seed": -1}, "seed:"),
    ({"n": "many"}, "n: Input should be a valid integer"),
])
def test_bad_sample_requests_are_refused(client, runs, payload, message):
    response = client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample", json=payload)
    assert response.status_code == 422 and message in response.json()["error"]


# --- security: paths, links, writes


def raw_get(base: str, target: str) -> tuple[int, dict]:
    """GET with the target sent exactly as written (a client library would normalise '..' away)."""
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("GET", target, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, {"raw": body[:200]}


@pytest.mark.parametrize("name", [
    "../../outside/secret.txt", "..%2F..%2Foutside%2Fsecret.txt", "%2e%2e/%2e%2e/outside/secret.txt",
    "%252e%252e/secret.txt", "figures/../../../outside/secret.txt", "figures/..%5C..%5Csecret.txt",
    "figures\\..\\config.json", "%2Fetc%2Fpasswd", "/etc/passwd", "//etc/passwd", "checkpoint/state.pt",
    "model.safetensors", "figures/leak.png", "figures/.hidden.png", "figures/x.py",
])
def test_paths_out_of_a_run_are_refused(runs, name):
    with live_server(runs["root"]) as base:
        status, body = raw_get(base, f"/api/runs/{runs['ids']['digits-cnn']}/files/{name}")
    assert status in (400, 404) and "not for the page" not in json.dumps(body)
    assert "error" in body


def test_a_run_folder_is_never_written(client, runs):
    before = tree_digest(runs["root"])
    client.get("/api/runs")
    for name in ("digits-cnn", "promoters-cnn1d", "digits-gan", "half", "broken", "with-predictions"):
        client.get(f"/api/runs/{ident(runs, name)}")
        client.get(f"/api/runs/{ident(runs, name)}/history")
    client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", content=digit_png(),
                headers={"content-type": "image/png"})
    client.post(f"/api/runs/{ident(runs, 'digits-gan')}/sample", json={"n": 4, "interpolate": True})
    client.post(f"/api/runs/{ident(runs, 'promoters-cnn1d')}/predict", json={"sequences": ["ACGT" * 10],
                                                                           "ism": True})
    assert tree_digest(runs["root"]) == before


def test_weights_are_read_from_safetensors_never_from_a_pickle(client, runs, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)
    from synbiolab.web import models

    models._CACHE._items.clear()
    response = client.post(f"/api/runs/{ident(runs, 'digits-cnn')}/predict", content=digit_png(),
                           headers={"content-type": "image/png"})
    assert response.status_code == 200


def test_a_corrupt_weights_file_is_a_4xx_not_a_server_error(runs, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from synbiolab.web import create_app
    from synbiolab.web.index import run_id

    shutil.copytree(runs["root"] / "digits-cnn", tmp_path / "damaged", ignore=shutil.ignore_patterns("leak.png"))
    (tmp_path / "damaged" / "model.safetensors").write_bytes(b"\x00" * 100)
    with TestClient(create_app(tmp_path)) as c:
        response = c.post(f"/api/runs/{run_id('damaged')}/predict", content=digit_png(),
                          headers={"content-type": "image/png"})
        listed = c.get("/api/runs").json()["runs"]
    error = response.json()["error"]
    assert response.status_code == 422 and "model.safetensors" in error and "damaged" in error
    assert str(tmp_path) not in error  # the answer names the run, not where the runs folder lies
    assert listed[0]["status"] == "finished"  # the table still loads


def test_the_page_and_its_scripts_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    schema = client.get("/openapi.json").json()
    assert {"/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/history", "/api/runs/{run_id}/events",
            "/api/runs/{run_id}/predict", "/api/runs/{run_id}/sample",
            "/api/runs/{run_id}/files/{name}"} <= set(schema["paths"])
    for name in ("uPlot.LICENSE", "swagger-ui.LICENSE"):
        assert client.get(f"/static/vendor/{name}").status_code == 200


def test_serve_refuses_a_missing_folder_and_a_taken_port(tmp_path, capsys):
    import socket

    from synbiolab.cli import main

    with pytest.raises(SystemExit) as missing:
        main(["serve", "--runs", str(tmp_path / "nowhere")])
    assert missing.value.code == 2 and "no such folder" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(SystemExit) as busy:
            main(["serve", "--runs", str(tmp_path), "--port", str(taken.getsockname()[1])])
    assert busy.value.code == 2 and "choose another --port" in capsys.readouterr().err


def test_loopback_hosts_are_recognised():
    from synbiolab.web import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")


# --- fuzzing the OpenAPI schema: no input makes a server error


def test_no_request_the_schema_allows_makes_a_server_error(runs):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    from synbiolab.web import create_app

    app = create_app(runs["root"], poll_seconds=0.01)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ids = [runs["ids"][n] for n in ("digits-cnn", "digits-gan", "broken", "sweep-lr")]
    failures = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case, op=op):
            if "run_id" in (case.path_parameters or {}) and case.path_parameters["run_id"][:1] in "abc":
                case.path_parameters["run_id"] = ids[len(case.path_parameters["run_id"]) % len(ids)]
            try:
                case.call_and_validate(checks=[not_a_server_error])
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{op.method.upper()} {op.path}: {str(exc).splitlines()[0]}")
                raise

        try:
            check()
        except Exception:  # noqa: BLE001
            pass
    assert failures == []
