"""Placement files: round trip as YAML and JSON; a bad file is one line naming the node."""
import json

import pytest

from chiplab.errors import ChiplabError
from chiplab.partition import load_placement, save_placement, validate

from partition_helpers import dag

G = dag({"a": [], "b": ["a"], "c": ["b"]})
PLACE = {"a": "host", "b": "acc", "c": "host"}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    p = save_placement(tmp_path / f"p{suffix}", PLACE, policy="optimal")
    assert load_placement(p, G) == PLACE


def test_a_plain_mapping_loads(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(PLACE))
    assert load_placement(p, G) == PLACE


@pytest.mark.parametrize("bad,match", [
    ({**PLACE, "zz": "acc"}, "unknown node 'zz'"),
    ({"a": "host", "b": "acc"}, "node 'c' .* has no device"),
    ({**PLACE, "b": "gpu"}, "node 'b': device 'gpu'"),
])
def test_bad_placements_name_the_node(tmp_path, bad, match):
    p = tmp_path / "p.yaml"
    save_placement(p, bad)
    with pytest.raises(ChiplabError, match=match) as e:
        load_placement(p, G)
    assert "\n" not in str(e.value) and str(p) in str(e.value)
    with pytest.raises(ChiplabError, match=match):
        validate(G, bad)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ChiplabError, match="missing.yaml"):
        load_placement(tmp_path / "missing.yaml", G)
    p = tmp_path / "p.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ChiplabError, match="expected a mapping"):
        load_placement(p, G)
    p.write_text("a: [host\n")
    with pytest.raises(ChiplabError, match="not valid"):
        load_placement(p, G)
