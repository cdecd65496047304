"""Resource plans derived from the cluster's resources (fast, no Ray)."""

from __future__ import annotations

import pytest

from jobs.plan import JobOptions, plan_resources


@pytest.mark.parametrize("cpus", [1, 2, 4, 16, 64])
@pytest.mark.parametrize("actors", [None, 1, 2, 4])
def test_cpu_plans_leave_room_for_the_cpu_tasks(cpus: int, actors: int | None) -> None:
    plan = plan_resources({"CPU": cpus}, JobOptions("m", "o", pipeline="staged", segmentation_actors=actors,
                                                    embedding_actors=actors))
    assert not plan.fused and plan.file_actors == 0
    reserved = plan.actor_cpus * (plan.segmentation_actors + plan.embedding_actors)
    assert plan.device == "cpu" and plan.actor_gpus == 0
    assert reserved + plan.task_cpus <= cpus + 1e-9  # actors never starve decoding and clustering
    assert plan.actor_threads >= 1 and plan.inflight_batches >= plan.segmentation_actors + plan.embedding_actors


def test_gpu_plan_pins_one_actor_pair_per_gpu() -> None:
    plan = plan_resources({"CPU": 16, "GPU": 4}, JobOptions("m", "o"))
    assert (plan.device, plan.segmentation_actors, plan.embedding_actors, plan.actor_gpus) == ("cuda", 4, 4, 0.5)
    assert plan.batch_files > plan_resources({"CPU": 16}, JobOptions("m", "o")).batch_files


def test_autoscaling_cluster_without_gpus_yet_can_ask_for_them() -> None:
    plan = plan_resources({"CPU": 8}, JobOptions("m", "o", device="cuda", segmentation_actors=8, embedding_actors=8))
    assert plan.device == "cuda" and plan.actor_gpus == 0.5  # 16 actors: demand for 8 GPUs


def test_options_win() -> None:
    plan = plan_resources({"CPU": 8, "GPU": 2}, JobOptions("m", "o", gpus_per_actor=0.25, batch_files=5,
                                                          shard_size=10, cpus_per_actor=2))
    assert (plan.actor_gpus, plan.batch_files, plan.shard_size, plan.actor_cpus, plan.actor_threads) == \
        (0.25, 5, 10, 2, 2)


def test_cpus_per_task_fits_tasks_beside_the_actors_on_small_nodes() -> None:
    """Two 1-CPU nodes: by default each task takes a whole CPU, which no node holding an actor has left."""
    default = plan_resources({"CPU": 2}, JobOptions("m", "o", cpus_per_actor=0.25, pipeline="staged"))
    assert default.task_cpus == 1.0
    for pipeline in ("staged", "fused"):
        plan = plan_resources({"CPU": 2}, JobOptions("m", "o", cpus_per_actor=0.25, cpus_per_task=0.25,
                                                     pipeline=pipeline))
        assert (plan.actor_cpus, plan.task_cpus) == (0.25, 0.25)
    assert plan_resources({"CPU": 8, "GPU": 1}, JobOptions("m", "o", cpus_per_task=2)).task_cpus == 2


@pytest.mark.parametrize("cpus", [1, 2, 4, 16, 64])
@pytest.mark.parametrize("actors", [None, 1, 3])
def test_fused_cpu_plan_has_one_single_threaded_file_actor_per_cpu(cpus: int, actors: int | None) -> None:
    plan = plan_resources({"CPU": cpus}, JobOptions("m", "o", actors=actors))
    assert plan.fused and (plan.segmentation_actors, plan.embedding_actors) == (0, 0)
    assert plan.file_actors == (actors or cpus) and plan.actor_threads >= 1
    assert plan.actor_threads == 1 or actors is not None  # fewer actors than CPUs asked for: more threads each
    assert plan.actor_cpus * plan.file_actors + plan.task_cpus <= cpus + 1e-9  # the commit tasks still fit
    assert plan.task_cpus > 0 and plan.inflight_batches == 2 * plan.file_actors and plan.batch_files == 1


def test_pipeline_choice() -> None:
    """auto: fused on CPU unless actors per model stage are asked for, staged with GPUs; explicit wins."""
    assert plan_resources({"CPU": 2}, JobOptions("m", "o")).fused
    assert plan_resources({"CPU": 2}, JobOptions("m", "o", pipeline="auto")).fused
    assert not plan_resources({"CPU": 2}, JobOptions("m", "o", segmentation_actors=1)).fused
    assert not plan_resources({"CPU": 2}, JobOptions("m", "o", pipeline="staged")).fused
    assert not plan_resources({"CPU": 16, "GPU": 1}, JobOptions("m", "o")).fused
    assert not plan_resources({"CPU": 8}, JobOptions("m", "o", device="cuda")).fused
    assert plan_resources({"CPU": 16, "GPU": 1}, JobOptions("m", "o", pipeline="fused")).fused
    assert plan_resources({"CPU": 8}, JobOptions("m", "o", batch_files=4, max_inflight_batches=3)).batch_files == 4
    with pytest.raises(ValueError, match="pipeline 'both'"):
        JobOptions("m", "o", pipeline="both")


def test_cli_pipeline_and_actors_options() -> None:
    """``--actors N``: N file actors on the fused path, N actors per model stage on the staged one."""
    import argparse

    from jobs.cli import add_run_command, options_from_args

    parser = argparse.ArgumentParser()
    add_run_command(parser.add_subparsers(dest="command"))

    def plan_of(*argv: str, resources: dict[str, float] | None = None) -> object:
        options = options_from_args(parser.parse_args(["run", "m.csv", "-o", "out", *argv]))
        return plan_resources(resources or {"CPU": 8}, options)

    assert plan_of().file_actors == 8
    assert plan_of("--actors", "3").file_actors == 3
    staged = plan_of("--actors", "3", "--pipeline", "staged")
    assert (staged.file_actors, staged.segmentation_actors, staged.embedding_actors) == (0, 3, 3)
    gpu = plan_of("--device", "cuda", "--actors", "4", "--embedding-actors", "6")
    assert (gpu.fused, gpu.segmentation_actors, gpu.embedding_actors) == (False, 4, 6)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "m.csv", "-o", "out", "--pipeline", "both"])
