"""A repro bundle is data, not code: loading one never unpickles objects or runs files it names (issue 9, item 11)."""
import json
import torch
import torch.nn as nn

from chiplab.debugger import debug

PAYLOAD = "import pathlib; pathlib.Path({marker!r}).write_text('pwned')"


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (PAYLOAD.format(marker=self.marker),))


def _bundle(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    d = tmp_path / "b"
    debug(m, "int8", torch.randn(16, 8), fixes=False, bundle=str(d))
    return d


def _repro(d, *extra):
    """Run the repro's main in this process: (exit status, stderr)."""
    import contextlib
    import io

    from chiplab.debugger.repro import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(d), *extra])
    return rc, err.getvalue()


def test_bundle_holds_no_pickled_objects(tmp_path):
    d = _bundle(tmp_path)
    assert not (d / "model.pt").exists()
    for f in ("state_dict.pt", "inputs.pt"):
        torch.load(d / f, weights_only=True)            # plain tensor data


def test_malicious_pickles_do_not_run(tmp_path):
    d = _bundle(tmp_path)
    marker = tmp_path / "marker"
    factory = tmp_path / "fac.py"
    factory.write_text("import torch.nn as nn, torch\ndef make():\n"
                       "    torch.manual_seed(0)\n    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)), (torch.randn(1, 8),)\n")
    for f in ("inputs.pt", "state_dict.pt", "model.pt"):
        torch.save(Evil(str(marker)), d / f)
        rc, err = _repro(d, "--factory", f"{factory}:make")
        assert not marker.exists(), f
        if f != "model.pt":
            assert rc == 2 and "not plain tensor data" in err, err


def test_factory_named_in_bundle_is_not_run(tmp_path):
    d = _bundle(tmp_path)
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.py"
    evil.write_text(PAYLOAD.format(marker=str(marker)) + "\ndef make():\n    pass\n")
    for ref in (f"{evil}:make", "os:system", "evil"):
        (d / "model.json").write_text(json.dumps({"workload": ref, "factory_hint": None}))
        rc, err = _repro(d)
        assert rc == 2 and "--factory" in err, err
        (d / "model.json").write_text(json.dumps({"workload": None, "factory_hint": f"{evil}:make"}))
        rc, err = _repro(d)
        assert rc == 2 and "--factory" in err, err
        (d / "factory.json").write_text(json.dumps({"factory": ref}))      # the old format's file: ignored
        rc, err = _repro(d)
        assert not marker.exists(), ref
