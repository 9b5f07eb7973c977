"""Issue 11, SQL answers: a hostile SQL service cannot make the client read local files or print a traceback.

Each case runs the real query_sdss_catalog script entry point against the loopback stand-in.
"""

import pytest

from hostile import assert_clean_failure, plant_marker, run_script

CLASSES = ["GALAXY", "STAR", "QSO"]


@pytest.fixture
def server(shared_data):
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(shared_data) as standin:
        yield standin


def query(tmp_path, url):
    outputs = {name: str(tmp_path / "resources" / f"catalog.{ext}")
               for name, ext in (("catalog", "csv"), ("sql", "sql"), ("provenance", "json"))}
    log = tmp_path / "logs" / "query_sdss_catalog.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    sdss = {"data_release": 16, "n_objects": 30, "n_per_class": None, "pool_size": 100, "zwarning_zero": True,
            "clean_photometry": True, "r_mag_min": 14.0, "r_mag_max": 19.0, "skyserver_url": url, "timeout_s": 10}
    result = run_script("query_sdss_catalog", output=outputs, log=log,
                        params={"sdss": sdss, "classes": CLASSES, "seed": 1}, config={"sdss": sdss})
    return result, list(outputs.values()), log


@pytest.mark.parametrize("answer, expected", [
    ("path", "SQL answer lacks columns"),
    ((500, "<html>Internal error</html>"), "SQL service answered HTTP 500"),
    ((200, "error_message: the query timed out"), "SQL service reported an error"),
    ((200, "#Table1\nclass,n\nGALAXY,lots\n"), "column 'n' has a non-numeric value 'lots'"),
])
def test_hostile_sql_answers_fail_cleanly(server, tmp_path, answer, expected):
    marker = plant_marker(tmp_path / "outside")
    server.sql_answer = (200, str(marker)) if answer == "path" else answer
    result, outputs, log = query(tmp_path, server.url)
    assert_clean_failure(result, expected, outputs=outputs, log=log, searched=[tmp_path / "resources",
                                                                              tmp_path / "logs"])
    assert f"sdss.skyserver_url ({server.url})" in result.stderr
    assert any(path.endswith("x_results.aspx") for path in server.paths)  # the request reached the stand-in


def test_unreachable_sql_service_fails_cleanly(tmp_path):
    result, outputs, log = query(tmp_path, "http://127.0.0.1:9")
    assert_clean_failure(result, "SQL request failed (ConnectionError", outputs=outputs, log=log)
