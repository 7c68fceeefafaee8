"""course_utils.provenance: own work passes; every way of borrowing the reference is caught."""

import _thread
import queue
import sys
import threading

import pytest
import torch
from torch import nn

from course_utils.models import VariationalAutoEncoder
from course_utils.provenance import borrowed_parts, mark_reference, own_work


def small_vae(cls=VariationalAutoEncoder):
    return cls(1, hid_channels=4, code_channels=4, kernel_size=3, latent_dim=2)


class Own(VariationalAutoEncoder):
    def sample(self, mean, log_var):
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


class Inherited(VariationalAutoEncoder):
    pass


class Aliased(VariationalAutoEncoder):
    sample = VariationalAutoEncoder.sample


class CallsSuper(VariationalAutoEncoder):
    def sample(self, mean, log_var):
        return super().sample(mean, log_var)


def test_own_code_passes_and_returns_its_result():
    vae, zeros = small_vae(Own), torch.zeros(3, 2)
    z = own_work(vae.sample, zeros, torch.full((3, 2), -80.0))
    assert torch.allclose(z, zeros, atol=1e-12)


@pytest.mark.parametrize("cls", [Inherited, Aliased, CallsSuper])
def test_every_way_of_reusing_the_reference_is_caught(cls):
    vae = small_vae(cls)
    with pytest.raises(AssertionError, match=r"models\.VariationalAutoEncoder\.sample"):
        own_work(vae.sample, torch.zeros(3, 2), torch.zeros(3, 2))


def test_allowed_library_functions_pass():
    vae, x = small_vae(Own), torch.rand(2, 1, 28, 28)

    def forward(x):
        mean, log_var = vae.encode(x)
        return vae.decode(vae.sample(mean, log_var))

    with pytest.raises(AssertionError, match="encode"):
        own_work(forward, x)
    assert own_work(forward, x, allowed=("encode", "decode")).shape == x.shape


def test_switching_the_profiler_off_is_caught():
    def sneaky():
        sys.setprofile(None)
        return small_vae().sample(torch.zeros(1, 2), torch.zeros(1, 2))

    with pytest.raises(AssertionError, match="switched off"):
        own_work(sneaky)
    assert sys.getprofile() is None


def reference_sample():
    return small_vae().sample(torch.zeros(1, 2), torch.zeros(1, 2))


def test_switching_the_profiler_off_and_on_again_under_an_alias_is_caught():
    def sneaky():
        import sys as interpreter

        watching = interpreter.getprofile()
        interpreter.setprofile(None)
        result = reference_sample()
        interpreter.setprofile(watching)
        return result

    with pytest.raises(AssertionError, match="switched off or replaced the grader's profiler"):
        own_work(sneaky)


def test_the_reference_called_in_another_thread_is_caught():
    def in_a_thread():
        results = []
        worker = threading.Thread(target=lambda: results.append(reference_sample()))
        worker.start()
        worker.join()
        return results[0]

    with pytest.raises(AssertionError, match=r"reference course_utils\.models\.VariationalAuto"):
        own_work(in_a_thread)


def test_the_reference_called_in_a_low_level_thread_is_caught():
    def low_level():
        done = threading.Event()
        _thread.start_new_thread(lambda: (reference_sample(), done.set()), ())
        done.wait(30)

    with pytest.raises(AssertionError, match=r"reference course_utils\.models\.VariationalAuto"):
        own_work(low_level)


def test_work_left_to_a_thread_started_before_the_call_is_caught():
    jobs, results = queue.Queue(), queue.Queue()

    def worker():  # started earlier, in the notebook: the profiler never reaches it
        while (job := jobs.get()) is not None:
            results.put(job())

    thread = threading.Thread(target=worker, name="notebook-worker", daemon=True)
    thread.start()
    try:
        with pytest.raises(AssertionError, match=r"cannot watch \(notebook-worker\)"):
            own_work(lambda: jobs.put(reference_sample) or results.get(timeout=30))
    finally:
        jobs.put(None)
        thread.join(30)


def test_own_work_in_a_thread_passes():
    def threaded():
        results = []
        worker = threading.Thread(target=lambda: results.append(torch.ones(2) * 3))
        worker.start()
        worker.join()
        return results[0]

    assert torch.equal(own_work(threaded), torch.full((2,), 3.0))
    assert sys.getprofile() is None and threading.getprofile() is None


def test_borrowed_parts_are_found_wherever_they_were_built():
    library = mark_reference(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))

    class Student(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.decoder = nn.ConvTranspose2d(2, 1, 3)

    assert borrowed_parts(Student(library)) == ["encoder", "encoder.0", "encoder.1"]
    assert borrowed_parts(Student(nn.Conv2d(1, 2, 3))) == []


def test_code_nested_in_an_allowed_function_and_imports_are_allowed():
    from course_utils import provenance

    assert provenance._permitted("layers.UndoableConv2d._pads.<locals>.<listcomp>", ("_pads",))
    assert provenance._permitted("models.AutoEncoder.encode", ("models.AutoEncoder.encode",))
    assert provenance._permitted("layers.<module>", ())
    assert not provenance._permitted("layers.UndoableConv2d.undo", ("_pads",))
    assert not provenance._permitted("models.AutoEncoder.encode", ("models.AutoEncoder.decode",))
