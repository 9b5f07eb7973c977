"""User catalog validation: every bad row named with its line and reason, nothing downloaded."""

import pandas as pd
import pytest

from astrotune.errors import InputError
from astrotune.sky.catalog import import_catalog, read_catalog
from astrotune.sky.skyserver import CutoutSettings, download_shard

CLASSES = ["GALAXY", "STAR", "QSO"]


def write(tmp_path, text, name="catalog.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_degrees_and_sexagesimal_are_parsed(tmp_path):
    path = write(tmp_path, "ID,RA,Dec,class,note\n"
                           "a1,183.5,0.25,GALAXY,x\n"
                           "b.2,12:30:00,-01:30:00,STAR,y\n"
                           "c_3, 12h30m36s , +45d30m00s ,QSO,z\n")
    catalog = read_catalog(path, CLASSES)
    assert list(catalog.columns) == ["id", "ra", "dec", "class", "note"]
    assert catalog["id"].tolist() == ["a1", "b.2", "c_3"]
    assert catalog["ra"].tolist() == pytest.approx([183.5, 187.5, 187.65])
    assert catalog["dec"].tolist() == pytest.approx([0.25, -1.5, 45.5])


def test_every_bad_row_is_listed_in_one_error(tmp_path):
    path = write(tmp_path, "id,ra,dec,class\n"
                           "good,10,10,GALAXY\n"
                           "ra_bad,400,0,STAR\n"
                           "dec_bad,10,-91,STAR\n"
                           "class_bad,10,10,NEBULA\n"
                           "good,11,11,QSO\n"
                           "../evil,12,12,QSO\n"
                           "text,abc,-95:00:00,STAR\n")
    with pytest.raises(InputError) as err:
        read_catalog(path, CLASSES)
    message = str(err.value)
    assert str(path) in message and "6 bad row(s)" in message
    expected = {
        3: "ra 400 is outside [0, 360)",
        4: "dec -91 is outside [-90, 90]",
        5: "class 'NEBULA' is not one of",
        6: "id 'good' duplicates line 2",
        7: "id '../evil' is not safe as a file name",
        8: "ra 'abc' is neither a number nor a sexagesimal angle",
    }
    lines = {int(line.split(":")[0].split()[-1]): line for line in message.splitlines()[1:]}
    assert set(lines) == set(expected)
    for number, reason in expected.items():
        assert reason in lines[number]
    assert "dec -95:00:00 is outside" in lines[8]


@pytest.mark.parametrize("text, reason", [
    ("", "file is empty"),
    ("id,ra,dec,class\n", "header but no rows"),
    ("id;ra;dec;class\na;1;2;STAR\n", "comma-separated (wrong delimiter?)"),
    ("id,ra,class\na,1,STAR\n", "missing columns ['dec']"),
])
def test_unreadable_catalogs(tmp_path, text, reason):
    with pytest.raises(InputError) as err:
        read_catalog(write(tmp_path, text), CLASSES)
    assert reason in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_catalog(tmp_path / "nope.csv", CLASSES)


def test_import_writes_degrees_or_nothing(tmp_path):
    good = write(tmp_path, "id,ra,dec,class\na,12:00:00,+10:00:00,STAR\n", "good.csv")
    import_catalog(good, tmp_path / "out" / "catalog.csv", CLASSES)
    written = pd.read_csv(tmp_path / "out" / "catalog.csv")
    assert written[["ra", "dec"]].values.tolist() == [[180.0, 10.0]]
    bad = write(tmp_path, "id,ra,dec,class\na,360,0,STAR\n", "bad.csv")
    with pytest.raises(InputError):
        import_catalog(bad, tmp_path / "bad_out" / "catalog.csv", CLASSES)
    assert not (tmp_path / "bad_out").exists()


def test_bad_catalog_downloads_nothing(tmp_path, shared_data):
    from skyserver_standin import SkyServerStandIn

    path = write(tmp_path, "id,ra,dec,class\nok,10,10,STAR\nbad,400,-91,STAR\n")
    with SkyServerStandIn(shared_data) as server:
        settings = CutoutSettings(base_url=server.url, size=128)
        with pytest.raises(InputError, match="line 3"):
            download_shard(read_catalog(path, CLASSES), tmp_path / "manifest_0.csv", tmp_path / "images",
                           settings, shard=0, shards=1, max_failed_fraction=0.02)
        assert server.paths == []
    assert not (tmp_path / "manifest_0.csv").exists() and not (tmp_path / "images").exists()
