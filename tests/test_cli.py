"""The command line through click's CliRunner: help, listings, show, errors."""

import json

import pytest
from click.testing import CliRunner

from convbench.cli import main


@pytest.fixture
def cli():
    runner = CliRunner()

    def call(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return call


@pytest.mark.parametrize("cmd", [[], ["run"], ["show"], ["list"]])
def test_every_command_has_help(cli, cmd):
    r = cli(*cmd, "--help")
    assert r.exit_code == 0 and "Usage:" in r.output and len(r.output) > 200


def test_show_resnet50_prints_every_layer_and_the_totals(cli):
    r = cli("show", "resnet50")
    assert r.exit_code == 0
    assert "layer4.2.conv3" in r.output and "fc" in r.output
    assert "25,503,912 params" in r.output and "4.089 GMACs" in r.output


def test_show_json_and_csv(cli):
    r = cli("show", "resnet18", "--format", "json", "--dtype", "fp32,int8")
    data = json.loads(r.output)
    assert len(data["layers"]) == 21 and data["totals"]["params"] == sum(l["params"] for l in data["layers"])
    assert "bytes_int8" in data["layers"][0]
    r = cli("show", "mb1ic64ih56oc64kh3ph1", "--format", "csv")
    assert r.output.splitlines()[0].startswith("layer,kind,descriptor")


def test_show_with_batch_and_resolution_scales_macs(cli):
    one = json.loads(cli("show", "resnet50", "--format", "json").output)["totals"]["macs"]
    four = json.loads(cli("show", "resnet50", "--format", "json", "--batch", "4").output)["totals"]["macs"]
    assert four == 4 * one


@pytest.mark.parametrize("args, text", [
    (["show", "mb1ic64ih56oc64kh3ph1zz9"], "zz9"),
    (["show", "nonsense"], "not a network"),
    (["show", "mb1ic6ih56oc64kh3ph1g4"], "groups"),
    (["show", "mb1ic64ih2oc64kh5"], "output"),
    (["run", "--workload", "mb1ic64ih56oc64kh3ph1", "--dtype", "fp33"], "fp33"),
    (["run", "--workload", "mb1ic64ih56oc64kh3ph1", "--backend", "nosuch"], "nosuch"),
    (["run", "--workload", "mb1ic64ih56oc64kh3ph1", "--target-noise", "lots"], "target-noise"),
    (["run", "--workload", "mb1ic64ih56oc64kh3ph1", "--shard", "5/4"], "shard"),
    (["run", "--network", "nonet"], "nonet"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args, text):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("convbench: error:") and text in lines[0]
    assert "Traceback" not in r.output


def test_list_json(cli):
    data = json.loads(cli("list", "networks", "--format", "json").output)
    assert {"resnet50", "vgg16", "wavenet", "c3d"} <= {n["name"] for n in data}
    devices = json.loads(cli("list", "devices", "--format", "json").output)
    cpu = next(d for d in devices if d["kind"] == "cpu")
    assert cpu["present"] and cpu["devices"][0]["memory_bytes"] > 0
    cuda = next(d for d in devices if d["kind"] == "cuda")
    assert cuda["present"] or cuda["reason"]


def test_user_names_are_not_read_as_markup(cli):
    r = cli("show", 'mb1ic4ih8oc4kh3ph1n"[red]x[/red] <b>"')
    assert r.exit_code == 0 and "[red]x[/red] <b>" in r.output
