"""DeOldify weights: resumable download over a real local HTTP server, sanity checks, and the import of a
DeOldify-format checkpoint of the real architecture through ``vs-colorize-export deoldify --weights``."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from deoldify_fill import fill_state_dict, load_manifest

from vs_colorize.core import cache
from vs_colorize.core.contract import read_model_info
from vs_colorize.core.fileio import sha256_file
from vs_colorize.export import weights
from vs_colorize.export.cli import main
from vs_colorize.export.errors import DownloadError
from vs_colorize.export.parity import read_pt2_info

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, every offset distinguishable


class _Server(http.server.ThreadingHTTPServer):
    cut_after: int | None = None  # drop the connection after this many body bytes (once)
    honour_range = True
    requests: list[str | None]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        self.server.requests.append(rng)
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and self.server.honour_range:
            start = int(match.group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_after is not None:
            self.wfile.write(body[: self.server.cut_after])
            self.wfile.flush()
            self.server.cut_after = None
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/ColorizeArtistic_gen.pth"


def test_interrupted_download_resumes_with_range(server, tmp_path):
    dest = tmp_path / "w.pth"
    server.cut_after = 300_000
    with pytest.raises(DownloadError, match=r"run again to resume"):
        weights.download(_url(server), dest, timeout=5)
    part = tmp_path / "w.pth.part"
    assert not dest.exists()
    assert part.stat().st_size == 300_000

    weights.download(_url(server), dest, timeout=5)
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()
    assert server.requests == [None, "bytes=300000-"]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    dest = tmp_path / "w.pth"
    (tmp_path / "w.pth.part").write_bytes(b"\xff" * 1000)  # stale bytes that must not survive
    server.honour_range = False
    weights.download(_url(server), dest, timeout=5)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    dest = tmp_path / "w.pth"
    (tmp_path / "w.pth.part").write_bytes(PAYLOAD)
    weights.download(_url(server), dest, timeout=5)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [f"bytes={len(PAYLOAD)}-"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def test_no_network_says_where_to_put_the_file():
    url = f"http://127.0.0.1:{_closed_port()}/ColorizeVideo_gen.pth"
    with pytest.raises(DownloadError) as exc:
        weights.fetch_deoldify("video", urls=(url,), timeout=2)
    message = str(exc.value)
    assert "could not download ColorizeVideo_gen.pth" in message
    assert "https://data.deepai.org/deoldify/ColorizeVideo_gen.pth" in message
    assert str(cache.cache_dir() / "weights" / "ColorizeVideo_gen.pth") in message
    assert "--weights PATH" in message
    assert not (cache.cache_dir() / "weights" / "ColorizeVideo_gen.pth").exists()


def test_downloaded_file_far_too_small_is_rejected_and_removed(server):
    with pytest.raises(DownloadError, match=r"far less than the 255,070,532 bytes"):
        weights.fetch_deoldify("artistic", urls=(_url(server),), timeout=5)
    assert not weights.cached_weights_path("artistic").exists()


def test_published_mirrors_are_the_current_links_only():
    for name, source in weights.DEOLDIFY.items():
        assert source.urls, name
        assert all(u.startswith("https://") for u in source.urls)
        assert all(u.endswith("?dl=1") for u in source.urls if "dropbox" in u)
    assert weights.DEOLDIFY["video"].urls == ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth",)
    assert weights.DEOLDIFY["artistic"].urls == ("https://data.deepai.org/deoldify/ColorizeArtistic_gen.pth",)
    # the links DeOldify's README dropped in 2020 are dead and never tried
    dead = ("336vn9y4qwyg9yz", "zkehq1uwahhbc2o", "usf7uifrctqw9rl", "mwjep3vyqk5mkjc")
    assert not [u for s in weights.DEOLDIFY.values() for u in s.urls if any(d in u for d in dead)]


@pytest.fixture
def small_artistic(monkeypatch: pytest.MonkeyPatch) -> weights.WeightsSource:
    """The artistic source with the test payload's size, so the size check passes and the digest is what counts."""
    source = dataclasses.replace(weights.DEOLDIFY["artistic"], payload_bytes=len(PAYLOAD))
    monkeypatch.setitem(weights.DEOLDIFY, "artistic", source)
    return source


def test_fetched_weights_get_their_sha256_recorded_and_checked_on_reuse(server, small_artistic):
    path = weights.fetch_deoldify("artistic", urls=(_url(server),), timeout=5)
    record = weights.digest_record_path(path)
    assert record.read_text() == f"{hashlib.sha256(PAYLOAD).hexdigest()}  {path.name}\n"
    assert weights.fetch_deoldify("artistic", urls=(_url(server),), timeout=5) == path  # reuse: no download
    assert len(server.requests) == 1

    tampered = bytearray(PAYLOAD)
    tampered[123_456] ^= 1  # same size, one bit: a size check alone would pass it
    path.write_bytes(bytes(tampered))
    with pytest.raises(DownloadError, match=r"changed since it was fetched .*delete both files"):
        weights.fetch_deoldify("artistic", urls=(_url(server),), timeout=5)
    assert path.exists()  # kept for the user to inspect; nothing is silently re-downloaded over it


def test_a_known_digest_must_match_the_download(server, small_artistic, monkeypatch):
    monkeypatch.setitem(weights.DEOLDIFY, "artistic", dataclasses.replace(small_artistic, sha256="0" * 64))
    with pytest.raises(DownloadError, match=r"not the published 0{64}"):
        weights.fetch_deoldify("artistic", urls=(_url(server),), timeout=5)
    assert not weights.cached_weights_path("artistic").exists()


def test_a_file_placed_by_hand_is_recorded_on_first_use(small_artistic):
    path = weights.cached_weights_path("artistic")
    path.write_bytes(PAYLOAD)
    assert weights.fetch_deoldify("artistic", urls=("http://127.0.0.1:9/unused",), timeout=1) == path
    assert weights.digest_record_path(path).read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint", "far less than"),
        (None, "does not exist"),
    ],
)
def test_deoldify_rejects_missing_or_tiny_weights(tmp_path, capsys, content, message):
    path = tmp_path / "ColorizeArtistic_gen.pth"
    if content is not None:
        path.write_bytes(content)
    assert main(["deoldify", "artistic", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert "vs-colorize-export deoldify: error:" in err and message in err
    assert not cache.registry_model_path("artistic").exists()


def test_deoldify_rejects_garbage_of_the_right_size(tmp_path, capsys):
    path = tmp_path / "ColorizeArtistic_gen.pth"
    with open(path, "wb") as f:
        f.truncate(weights.DEOLDIFY["artistic"].payload_bytes)  # sparse: right size, no checkpoint
    assert main(["deoldify", "artistic", "--weights", str(path)]) == 2
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_deoldify_artistic_checkpoint_reproduces_reference(reference_dir, tmp_path, capsys):
    """A fastai-format ``{'model','opt'}`` file of the real artistic architecture, filled by the reference
    rule, exported to the registry; the ONNX (in ONNX Runtime) and the .pt2 reproduce DeOldify's own
    outputs (de-normalised)."""
    torch.set_num_threads(2)
    state = fill_state_dict(load_manifest(reference_dir, "artistic"))
    path = tmp_path / "ColorizeArtistic_gen.pth"
    torch.save({"model": state, "opt": {"state": {}, "param_groups": []}}, path)
    del state

    args = ["--render-range", "64", "96", "--precision", "fp32", "--pt2"]
    rc = main(["deoldify", "artistic", "--weights", str(path), *args])
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out == ""
    out = cache.registry_model_path("artistic", "fp32")
    info = read_model_info(out)
    assert (info.arch, info.dynamic_range, info.precision) == ("artistic", (64, 96), "fp32")
    assert info.source_sha256 == sha256_file(path)
    assert not cache.registry_model_path("artistic", "fp16").exists()

    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    pt2 = out.with_suffix(".pt2")
    assert read_pt2_info(pt2).dynamic_range == (64, 96)
    program = torch.export.load(str(pt2)).module()
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    for size in ("64x64", "80x80"):
        x01 = np.load(reference_dir / f"input_{size}.npy") * std + mean  # the de-normalised reference input
        want = np.clip(np.load(reference_dir / f"out_artistic_{size}.npy") * std + mean, 0, 1)
        got = session.run(None, {"input": x01.astype(np.float32)})[0]
        assert np.abs(got - want).max() <= 1e-4, size
        with torch.no_grad():
            got = program(torch.from_numpy(x01.astype(np.float32))).numpy()
        assert np.abs(got - want).max() <= 1e-4, ("pt2", size)

    assert main(["deoldify", "artistic", "--weights", str(path), "--precision", "fp32"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "precisions"),
    [("video", ("fp32", "fp16")), ("stable", ("fp32", "fp16")), ("artistic", ("fp16",))],
)
def test_deoldify_exports_reproduce_reference(
    reference_dir, tmp_path, capsys, name: str, precisions: tuple[str, ...]
) -> None:
    """The other DeOldify exports (artistic fp32 is the test above): each ONNX, run in ONNX Runtime on
    DeOldify's reference inputs, reproduces DeOldify's own outputs within the figures docs/export.md quotes
    (fp32 ~2.4e-7, fp16 ~4e-4)."""
    torch.set_num_threads(2)
    path = tmp_path / weights.DEOLDIFY[name].filename
    torch.save({"model": fill_state_dict(load_manifest(reference_dir, name)), "opt": {}}, path)
    rc = main(
        ["deoldify", name, "--weights", str(path), "--render-range", "64", "96", "--precision", *precisions]
    )
    assert rc == 0, capsys.readouterr().err

    import onnxruntime as ort

    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    tolerance = {"fp32": 1e-5, "fp16": 1e-3}
    for precision in precisions:
        out = cache.registry_model_path(name, precision)
        info = read_model_info(out)
        assert (info.arch, info.precision, info.dynamic_range) == (name, precision, (64, 96))
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        for size in ("64x64", "80x80"):
            x01 = np.load(reference_dir / f"input_{size}.npy") * std + mean
            want = np.clip(np.load(reference_dir / f"out_{name}_{size}.npy") * std + mean, 0, 1)
            got = session.run(None, {"input": x01.astype(np.float32)})[0]
            assert np.abs(got - want).max() <= tolerance[precision], (precision, size)
