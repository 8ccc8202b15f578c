"""gemini_np.progress.ProgressBar: redrawn in place on a terminal, only finished lines into a pipe or file."""
import io
import re

from gemini_np.model import ModelConfig
from gemini_np.progress import ProgressBar
from gemini_np.train import TrainConfig, train


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def test_into_a_pipe_only_the_finished_line_is_written():
    stream = io.StringIO()  # isatty() is False, like a pipe or a log file
    bar = ProgressBar(4, "epoch  1/2", stream=stream, width=8)
    for i in range(1, 5):
        bar.update(i, loss=0.5)
    assert stream.getvalue() == ""
    bar.close(loss=0.25, acc=0.75)
    assert stream.getvalue() == "epoch  1/2 [########] 4/4 loss 0.250 acc 0.750\n"
    assert "\r" not in stream.getvalue()


def test_on_a_terminal_the_line_is_redrawn_in_place():
    stream = Terminal()
    bar = ProgressBar(4, "x", stream=stream, width=4)
    bar.update(1, loss=0.5)
    bar.step(loss=0.4)  # done = 2
    bar.close(loss=0.3)
    assert stream.getvalue() == "\rx [#...] 1/4 loss 0.500\rx [##..] 2/4 loss 0.400\rx [####] 4/4 loss 0.300\n"


def test_values_are_formatted_by_kind():
    stream = io.StringIO()
    ProgressBar(2, "run", stream=stream, width=2).close(acc=0.5, step=7, name="adam")
    assert stream.getvalue() == "run [##] 2/2 acc 0.500 step 7 name adam\n"


def test_a_disabled_bar_writes_nothing_anywhere():
    for stream in (io.StringIO(), Terminal()):
        bar = ProgressBar(4, "x", stream=stream, enabled=False)
        bar.update(1, loss=0.5)
        bar.close()
        assert stream.getvalue() == ""


def test_a_stream_without_isatty_counts_as_a_pipe():
    class Bare:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Bare()
    bar = ProgressBar(1, "x", stream=stream, width=1)
    bar.update(1)
    bar.close()
    assert stream.text == "x [#] 1/1\n"


def test_training_reports_each_epoch_once_into_a_pipe():
    stream = io.StringIO()
    config = TrainConfig(samples=96, epochs=2, batch_size=16, model=ModelConfig(d_model=8, n_heads=2, d_ff=16))
    train(config, progress=True, stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # not a terminal: one finished line per epoch
    assert re.fullmatch(r"epoch  1/2 \[#+\] 5/5 loss \d\.\d{3} acc \d\.\d{3} test_acc \d\.\d{3}", lines[0])
