import pytest

from convbench.backends.base import Case
from convbench.errors import ConvbenchError
from convbench.harness.plan import PlannedCase, Workload, build_plan, merge_workloads, parse_shard, take_shard
from convbench.workloads.spec import ConvSpec

A = ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1, name="a")
B = ConvSpec(in_channels=64, out_channels=128, input_size=(28, 28), kernel_size=1, name="b")


def test_case_id_is_stable_across_machines_and_ignores_the_layer_name():
    pc = PlannedCase(Case(A), "torch", Workload(A))
    assert pc.case_id == PlannedCase(Case(A.with_(name="other")), "torch", Workload(A)).case_id
    # pinned: a change here breaks --resume and --shard across versions and machines
    assert pc.descriptor == "mb1ic64ih56oc64kh3ph1"
    assert pc.case_id == "3e640dfe9fd730a8"
    assert len(pc.case_id) == 16 and int(pc.case_id, 16) >= 0
    assert pc.case_id != PlannedCase(Case(A, dtype="bf16"), "torch", Workload(A)).case_id
    assert pc.case_id != PlannedCase(Case(A), "torch", Workload(A), repeat=1).case_id


def test_equal_shapes_merge_with_counts_and_names():
    ws = merge_workloads([Workload(A, 1, "n", ("x",)), Workload(B, 1, "n", ("y",)), Workload(A.with_(name="z"), 2, "n", ("z",))])
    assert [(w.spec.name, w.count, w.layers) for w in ws] == [("a", 3, ("x", "z")), ("b", 1, ("y",))]


def test_plan_is_the_product_in_a_stable_order():
    plan = build_plan([Workload(A), Workload(B)], ["torch", "onednn"], ["fp32", "bf16"], ["fwd", "wgrad"])
    assert len(plan) == 2 * 2 * 2 * 2
    assert [p.backend for p in plan[:4]] == ["torch"] * 4
    assert len({p.case_id for p in plan}) == len(plan)


def test_algorithms_expand_from_the_backend_and_by_prefix():
    listed = {"reference": ["direct", "im2col", "winograd-2x2", "winograd-4x4"], "torch": ["default"]}
    plan = build_plan([Workload(A)], ["reference", "torch"], algorithms=None,
                      algorithms_of=lambda b, c: listed[b])
    assert [p.case.algorithm for p in plan] == ["direct", "im2col", "winograd-2x2", "winograd-4x4", "default"]
    plan = build_plan([Workload(A)], ["reference"], algorithms=["winograd"], algorithms_of=lambda b, c: listed[b])
    assert [p.case.algorithm for p in plan] == ["winograd-2x2", "winograd-4x4"]


def test_shards_are_disjoint_balanced_and_cover_the_plan():
    plan = build_plan([Workload(A), Workload(B)], ["t"], ["fp32", "bf16", "fp16"], ["fwd", "dgrad", "wgrad"])
    shards = [take_shard(plan, (i, 4)) for i in range(1, 5)]
    ids = [pc.case_id for s in shards for pc in s]
    assert sorted(ids) == sorted(pc.case_id for pc in plan)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3"])
def test_bad_shards(text):
    with pytest.raises(ConvbenchError):
        parse_shard(text)


def test_bad_plan_values():
    with pytest.raises(ConvbenchError):
        build_plan([Workload(A)], ["t"], dtypes=["fp33"])
    with pytest.raises(ConvbenchError):
        build_plan([Workload(A)], ["t"], directions=["bwd"])


def test_a_pinned_and_an_unpinned_copy_of_one_case_add_their_counts():
    plan = build_plan([Workload(A, 2, "n", ("x",)), Workload(A, 3, "f", ("y",), directions=("fwd",))], ["t"])
    assert len(plan) == 1 and plan[0].workload.count == 5 and plan[0].workload.layers == ("x", "y")


def test_repro_names_the_inputs_when_they_are_not_the_default():
    from convbench.harness.worker import Settings, repro_command

    pc = PlannedCase(Case(A.with_(name="it's")), "torch", Workload(A))
    assert "--seed 7 --inputs normal" in repro_command(pc, Settings(seed=7, distribution="normal"))
    assert "--seed" not in repro_command(pc, Settings())
