"""sloguard.runs: the run directory's files written and read back, the columnar reader against the csv one, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sloguard import runs
from sloguard.durations import Window
from sloguard.errors import UsageError
from sloguard.runs import latencies
from tests.support.clirun import run_sloguard

HEADER = "intended_send_time,actual_send_time,latency_seconds,implementation,status,kind"


def write_rows(path: Path, n: int, seed: int = 1, tag: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    writer = runs.LatencyWriter(path, block=97, extra_columns=(runs.TARGET_COLUMN,) if tag else ())
    for i in range(n):
        impl = "rust" if rng.random() < 0.5 else "python"
        args = (1.8e9 + i / 100, 1.8e9 + i / 100 + 1e-4, float(rng.lognormal(-6, 0.5)), impl,
                200 if i % 13 else 503, "read")
        (runs.TaggedWriter(writer, tag) if tag else writer).write(*args)
    writer.close()
    return path


def arrays(groups: dict[str, runs.Samples]) -> dict[str, tuple[bytes, bytes | None]]:
    """Each group's values and times as their bytes: equal only when every float is the same to the bit."""
    return {g: (s.values.tobytes(), None if s.times is None else s.times.tobytes()) for g, s in groups.items()}


def test_latencies_round_trip_through_the_writer_and_the_columnar_reader(tmp_path: Path) -> None:
    path = write_rows(tmp_path / runs.LATENCIES_CSV, 1000, tag="http://127.0.0.1:8001")
    assert path.read_text().splitlines()[0] == HEADER + ",target"
    groups = runs.read_samples(path, by="implementation", with_times=True)
    assert list(groups) == ["python", "rust"] or list(groups) == ["rust", "python"]
    assert sum(len(s.values) for s in groups.values()) == 1000
    everything = runs.read_samples(path, with_times=True)[""]
    assert everything.times is not None and np.all(np.diff(everything.times) > 0)
    # What the writer wrote is what float() reads back from the text, bit for bit.
    text = [float(line.split(",")[2]) for line in path.read_text().splitlines()[1:]]
    assert everything.values.tolist() == text
    by_target = runs.read_samples(path, by=runs.TARGET_COLUMN, filters={"status": "503"})
    assert list(by_target) == ["http://127.0.0.1:8001"] and len(by_target["http://127.0.0.1:8001"].values) == 77
    lat = runs.read_latencies(path)
    assert lat is not None and lat.implementations == ["python", "rust"] and int((lat.status == 503).sum()) == 77


EDGE_CASES = {
    "plain": f"{HEADER}\n1,1,0.5,rust,200,read\n2,2,0.25,python,503,write\n",
    "blank lines": f"{HEADER}\n\n1,1,0.5,rust,200,read\n\n2,2,0.25,python,200,read\n\n",
    "crlf": f"{HEADER}\r\n1,1,0.5,rust,200,read\r\n2,2,0.25,python,200,read\r\n",
    "cr only": f"{HEADER}\r1,1,0.5,rust,200,read\r2,2,0.25,python,200,read\r",
    "quoted": f'{HEADER}\n1,1,"0.5","rust",200,read\n2,2,0.25,"py,thon",200,"a\nb"\n',
    "quote inside": f'{HEADER}\n1,1,0.5,ru"st,200,read\n2,2,0.25,"py"thon,200,read\n',
    "quoted line break in a group": f'{HEADER}\n1,1,0.5,"ru\r\nst",200,read\n',
    "spaces": f"{HEADER}\n1,1, 0.5 , rust ,200,read\n",
    "nan and inf": f"{HEADER}\n1,1,nan,rust,200,read\n2,2,-inf,rust,200,read\n3,3,1e-3,rust,200,read\n",
    "underscore number": f"{HEADER}\n1,1,1_0,rust,200,read\n",
    "not a number": f"{HEADER}\n1,1,0.5,rust,200,read\n2,2,fast,rust,200,read\n",
    "not a number, filtered out": f"{HEADER}\n1,1,0.5,rust,200,read\n2,2,fast,rust,503,read\n",
    "empty value": f"{HEADER}\n1,1,,rust,200,read\n",
    "short row": f"{HEADER}\n1,1,0.5\n",
    "short row, unused columns": f"{HEADER}\n1,1,0.5,rust,200\n",
    "long row": f"{HEADER}\n1,1,0.5,rust,200,read,extra,more\n",
    "whitespace line": f"{HEADER}\n1,1,0.5,rust,200,read\n   \n",
    "byte order mark": f"\ufeff{HEADER}\n1,1,0.5,rust,200,read\n",
    "duplicate column": f"{HEADER},latency_seconds\n1,1,0.5,rust,200,read,0.7\n",
    "quoted header": '"intended_send_time"' + HEADER.removeprefix("intended_send_time") + "\n1,1,0.5,rust,200,r\n",
    "header only": f"{HEADER}\n",
    "empty file": "",
    "status with a decimal point": f"{HEADER}\n1,1,0.5,rust,200.0,read\n2,2,0.25,rust,,read\n",
    "hash": f"{HEADER}\n1,1,0.5,ru#st,200,#read\n",
}
READS = [dict(), dict(by="implementation"), dict(filters={"status": "200"}, by="implementation", with_times=True),
         dict(filters={"implementation": "rust", "kind": "read"}), dict(column="intended_send_time", by="kind")]


def outcome(read, *args, **kwargs):  # a reader's groups, or the message of the error it raised
    try:
        return "ok", read(*args, **kwargs)
    except UsageError as exc:
        return "error", str(exc)


def caught(read, path: Path):  # what a reader returned, or what it raised
    try:
        return read(path)
    except Exception as exc:  # the test compares what two readers raise
        return exc


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_the_columnar_reader_agrees_with_the_csv_reader(tmp_path: Path, name: str) -> None:
    path = tmp_path / "latencies.csv"
    path.write_bytes(EDGE_CASES[name].encode("utf-8"))
    for kwargs in READS:
        fast = outcome(runs.read_samples, path, **kwargs)
        slow = outcome(latencies._read_samples_with_csv, path, column=kwargs.get("column", runs.LATENCY_COLUMN),
                       filters=kwargs.get("filters", {}), by=kwargs.get("by"),
                       with_times=kwargs.get("with_times", False))
        assert fast[0] == slow[0], (kwargs, fast, slow)
        if fast[0] == "ok":
            assert list(fast[1]) == list(slow[1]) and arrays(fast[1]) == arrays(slow[1]), kwargs
        else:
            assert fast[1] == slow[1]
    fast_lat, slow_lat = caught(runs.read_latencies, path), caught(latencies._read_latencies_with_csv, path)
    if isinstance(slow_lat, Exception):  # the csv reader's own failures (rows it half reads) stay as they were
        assert type(fast_lat) is type(slow_lat) and str(fast_lat) == str(slow_lat)
        return
    assert (fast_lat is None) == (slow_lat is None)
    if isinstance(fast_lat, runs.Latencies) and isinstance(slow_lat, runs.Latencies):
        for field in ("sent", "latency", "implementation", "status"):
            a, b = getattr(fast_lat, field), getattr(slow_lat, field)
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field


def test_a_broken_latency_csv_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latencies.csv"
    path.write_text(EDGE_CASES["not a number"])
    with pytest.raises(UsageError, match=r"latencies.csv:3: latency_seconds is not a number: 'fast'$"):
        runs.read_samples(path)
    with pytest.raises(UsageError, match=r"latencies.csv: no column nope \(columns: intended_send_time,"):
        runs.read_samples(path, column="nope")
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(UsageError, match="not a text CSV file"):
        runs.read_samples(path)
    with pytest.raises(UsageError, match="no such file"):
        runs.read_samples(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text(EDGE_CASES["not a number"])
    res = run_sloguard("compare", "--control", str(tmp_path / "other.csv"), "--experiment", str(tmp_path / "other.csv"))
    assert res.returncode == 2 and res.stderr_lines() == [
        f"sloguard: error: {tmp_path / 'other.csv'}:3: latency_seconds is not a number: 'fast'"], res.describe()


def a_run(**changes: object) -> runs.RunDocument:
    run = runs.RunDocument(window=runs.window_around(1800000000.1234, 1800000060.9876), steady_seconds=60.864,
                           profile={"name": "quick", "rate": 100.0}, target="http://127.0.0.1:8000", mode="open-loop",
                           slo_variables={"minThroughput": 90}, rate={"requested": 100.0, "achieved": 99.5},
                           errors={"ratio": 0.001}, latency_seconds={"p50": 0.002, "p95": 0.004},
                           files={"latencies": runs.LATENCIES_CSV})
    return runs.RunDocument(**{**run.__dict__, **changes})


def test_run_json_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    run = a_run(interleaved=runs.Interleaved("abc", "control", "../experiment", ("http://a", "http://b"), ("http://c",)))
    doc = runs.write_run(tmp_path, run)
    assert list(tmp_path.iterdir()) == [tmp_path / runs.RUN_JSON]  # no temporary file left behind
    text = (tmp_path / runs.RUN_JSON).read_text()
    assert json.loads(text) == doc and text == json.dumps(doc, indent=2) + "\n"
    assert list(doc)[:3] == ["apiVersion", "kind", "profile"] and list(doc)[-1] == "interleaved"
    assert doc["window"] == {"start": 1800000000.123, "end": 1800000060.988, "seconds": 60.864}
    back = runs.read_run(tmp_path)
    assert back is not None and back == run and back.to_document() == doc
    assert back.processes == 2 and back.profile_name == "quick"
    assert runs.read_window(tmp_path / runs.RUN_JSON) == Window(1800000000.123, 1800000060.988)
    assert runs.read_slo_variables(tmp_path / runs.RUN_JSON) == {"minThroughput": 90.0}
    assert runs.find_run(str(tmp_path)) == run and runs.find_run(str(tmp_path / "latencies.csv")) == run


def test_the_two_sides_of_a_load_ab_pair_name_each_other(tmp_path: Path) -> None:
    for role, pair in (("control", "p1"), ("experiment", "p1"), ("other", "p2")):
        (tmp_path / role).mkdir()
        runs.write_run(tmp_path / role, a_run(interleaved=runs.Interleaved(pair, role if role != "other" else "x")))
    assert runs.interleaved_pair(str(tmp_path / "control"), str(tmp_path / "experiment"))
    assert not runs.interleaved_pair(str(tmp_path / "control"), str(tmp_path / "control"))
    assert not runs.interleaved_pair(str(tmp_path / "control"), str(tmp_path / "other"))
    assert not runs.interleaved_pair(str(tmp_path / "control"), str(tmp_path / "nowhere"))


def test_a_broken_run_json_is_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "run.json"
    broken.write_text("{not json")
    with pytest.raises(UsageError, match=r"run.json: not a run.json with window.start and window.end \("):
        runs.read_window(broken)
    with pytest.raises(UsageError, match=r"run.json: unreadable run file \("):
        runs.read_slo_variables(broken)
    with pytest.raises(UsageError, match="no such run file"):
        runs.read_window(tmp_path / "missing.json")
    broken.write_text(json.dumps({"window": {"start": 1}, "sloVariables": {"x": "fast"}}))
    with pytest.raises(UsageError, match=r"not a run.json with window.start and window.end \('end'\)"):
        runs.read_window(broken)
    with pytest.raises(UsageError, match="sloVariables must map names to numbers"):
        runs.read_slo_variables(broken)
    assert runs.find_run(str(broken)) is None and runs.read_run(tmp_path) is None
    res = run_sloguard("compare", "--prometheus", "http://127.0.0.1:1", "--run", str(broken))
    assert res.returncode == 2 and res.stderr_lines() == [
        f"sloguard: error: {broken}: not a run.json with window.start and window.end ('end')"], res.describe()


def test_a_hand_written_run_json_reads_with_defaults() -> None:
    run = runs.RunDocument.from_document({"kind": "LoadRun", "window": {"start": "2026-11-26T14:00:00Z", "end": 5},
                                          "interleaved": {"pair": "p", "role": "control", "targets": []}})
    assert run.window == Window(1795701600.0, 5.0) and run.processes == 1 and run.rate == {}
    assert runs.RunDocument.from_document({"window": {"start": "yesterday"}}).window is None


def test_rss_timeline_and_the_window_cut(tmp_path: Path) -> None:
    with runs.RssWriter(tmp_path) as out:
        out.write(100.0, 0.0, 1 << 20, 2)
        out.write(105.0, 5.0, (1 << 20) + 4096, 2)
    assert (tmp_path / runs.RSS_CSV).read_text() == ("time,elapsed_seconds,rss_bytes,processes\n"
                                                     "100.000,0.000,1048576,2\n105.000,5.000,1052672,2\n")
    assert runs.read_rss(tmp_path) == ([100.0, 105.0], [1048576.0, 1052672.0]) and runs.has_rss(tmp_path)
    second = {"second": 0, "done": 10, "errors": 1, "error_ratio": 0.1}
    runs.write_timeline(tmp_path / runs.TIMELINE_CSV, [second], 50.0)
    assert (tmp_path / runs.TIMELINE_CSV).read_text() == "time,second,done,errors,error_ratio\n50.000,0,10,1,0.1\n"
    raw = write_rows(tmp_path / runs.RAW_LATENCIES_CSV, 300)
    kept = list(runs.copy_in_window([raw], tmp_path / runs.LATENCIES_CSV, 1.8e9 + 1, 1.8e9 + 2))
    assert len(kept) == 101 and all(status in (200, 503) for status, _, _ in kept)
    assert len(runs.read_samples(tmp_path / runs.LATENCIES_CSV)[""].values) == 101
    runs.write_soak(tmp_path, {"kind": "SoakReport", "memory": {}})
    runs.write_stress(tmp_path, {"kind": "StressReport", "steps": []})
    assert runs.read_soak(tmp_path) == {"kind": "SoakReport", "memory": {}}
    assert runs.read_stress(tmp_path) == {"kind": "StressReport", "steps": []}


def test_a_truncated_last_row_is_skipped_whole_not_half_read(tmp_path: Path) -> None:
    # A run killed mid-write leaves a last row cut after its latency: the row must be dropped in full,
    # or the columns fall out of step (the performance report then crashed with IndexError).
    path = write_rows(tmp_path / "latencies.csv", 20)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("1800000001.0,1800000001.0001,0.002")
    for read in (runs.read_latencies, latencies._read_latencies_with_csv):
        lat = read(path)
        assert lat is not None
        assert [len(lat.sent), len(lat.latency), len(lat.implementation), len(lat.status)] == [20] * 4, read


@pytest.mark.parametrize("text", ["[]", "null", '"run"', "3"])
def test_a_run_file_that_is_not_an_object_is_a_one_line_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(text)
    for read in (runs.read_slo_variables, runs.read_window):
        with pytest.raises(UsageError, match=rf"^{path}: "):
            read(path)


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    runs.write_json(path, {"old": 1})

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_latency_file_that_is_not_text_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "latencies.csv"
    path.write_bytes(HEADER.encode() + b"\n\xff\xfe\x00garbage\n")
    for read in (runs.read_latencies, latencies._read_latencies_with_csv):
        with pytest.raises(UsageError, match=rf"^{path}: "):
            read(path)
