"""Every world of the package declares the world contract (`world.World`), and keeps it on a tiny stand-in.

The real worlds are checked on their fixtures inside their notebooks (`13_realworld`, `13_taskpool`: `check_world`);
here, without building anything heavy: which contract each class declares, and that the harness asks the contract
(`isinstance`) rather than probing worlds with `hasattr`.
"""
import inspect
from lorahub_nb import harness, world as contract
from lorahub_nb.world import World, SplitWorld, KinWorld, check_world
from lorahub_nb.toyworld import ToyWorld
from lorahub_nb.realworld import FolderWorld, RealWorld
from lorahub_nb.taskpool_world import TaskPoolWorld
from lorahub_nb.testing import MiniWorld, KinMiniWorld


def test_each_world_declares_the_contract():
    assert World in ToyWorld.__mro__ and SplitWorld not in ToyWorld.__mro__
    for cls in (RealWorld, TaskPoolWorld):
        assert FolderWorld in cls.__mro__ and {SplitWorld, KinWorld} <= set(cls.__mro__), cls


def test_stand_ins_keep_it(tmp_path):
    check_world(MiniWorld(tmp_path / "mini"))
    fam = check_world(KinMiniWorld(tmp_path / "fam", ["a", "a2", "b"], families=[["a", "a2"]]))
    assert isinstance(fam, KinWorld) and not isinstance(fam, SplitWorld)


def test_the_harness_asks_the_contract():
    for fn in (contract.world_data, harness.world_own, harness.world_pool, harness.world_run):
        assert "hasattr" not in inspect.getsource(fn) and "getattr" not in inspect.getsource(fn), fn.__name__
