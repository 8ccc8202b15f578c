"""Continue training a gemini_np checkpoint on PyTorch's own distributed engine (DistributedDataParallel).

    python -m gemini_np train --save model.npz
    python -m gemini_np.interop.ddp --checkpoint model.npz --nproc 2 --epochs 1 --save more.npz
    python -m gemini_np evaluate more.npz

What happens, in the order of :func:`train_rank`:

1. ``--nproc`` worker processes start (``torch.multiprocessing``) and join one
   process group, backend **gloo** (CPU; on GPUs it would be nccl).
2. Each loads the checkpoint into the PyTorch twin (:mod:`gemini_np.interop.twin`)
   and wraps it in ``DistributedDataParallel``.
3. Each rebuilds the checkpoint's own training split (its "data" entry: the same
   synthetic pairs of :mod:`gemini_np.data`), and a ``DistributedSampler`` gives
   every process a different share of each epoch's shuffle.
4. Every step, ``loss.backward()`` also averages the gradients over the processes
   (DDP's all-reduce), so every process takes the same Adam step and the
   parameters stay identical everywhere; the run checks this at the end by
   comparing a SHA-256 digest of every process's parameters.
5. Rank 0 writes the result as a gemini_np checkpoint (atomically).

``--batch-size`` is per process, as usual with DDP: one step sees
nproc × batch-size pairs. The learning rate is constant (``--lr``): this
continues a trained model; it is not the warm-up-and-decay schedule of
``gemini_np.train``. Each process uses ``--threads`` CPU threads (default 1).
On several machines the same ``train_rank`` runs under ``torchrun``; only the
rendezvous changes.

Errors (a bad flag, a missing or broken checkpoint, an output path that
cannot be written, no torch) are one ``error:`` line and exit status 2; a
failed worker is one line and status 1; Ctrl-C is one line and status 130.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile

from ..cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, _error, _Parser

DEFAULTS = dict(nproc=2, epochs=1, batch_size=16, lr=1e-4, seed=0, threads=1)


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    parser = _Parser(prog="python -m gemini_np.interop.ddp",
                     description="Continue training a gemini_np checkpoint with PyTorch DistributedDataParallel "
                                 "(gloo backend, CPU) over several processes; save the result as a gemini_np "
                                 "checkpoint that `python -m gemini_np evaluate` reads.")
    parser.add_argument("--checkpoint", required=True, metavar="FILE", help="a .npz written by `train --save`")
    parser.add_argument("--save", required=True, metavar="FILE", help="where rank 0 writes the trained checkpoint")
    parser.add_argument("--nproc", type=int, default=d["nproc"], help="processes (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=d["epochs"],
                        help="passes over the training pairs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"],
                        help="pairs per step and process (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=d["lr"],
                        help="Adam's learning rate, constant (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="the shuffle of the pairs (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=d["threads"],
                        help="CPU threads per process (default: %(default)s)")
    return parser


def main(argv=None) -> int:
    """Parse, check everything that can be checked here, then start the workers. Returns the exit status."""
    try:
        options = build_parser().parse_args(argv)
        _check_options(options)
        return _launch(options)
    except KeyboardInterrupt:
        print("interrupted; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, ImportError, ValueError, TypeError, OSError) as exc:  # ImportError: no torch
        return _error(exc, EXIT_USAGE)


def _check_options(options) -> None:
    """Values, the checkpoint and the output path, before any process starts (a typo costs a second)."""
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..data import DataConfig
    from ..files import check_output_file
    from ..validation import check_int, check_positive_int, check_real

    for name in ("nproc", "epochs", "batch_size", "threads"):
        check_positive_int(getattr(options, name), "--" + name.replace("_", "-"))
    check_int(options.seed, "--seed", minimum=0)
    check_real(options.lr, "--lr", positive=True)
    check_output_file(options.save, "--save")
    _, info = load_checkpoint(options.checkpoint)  # CheckpointError: one line
    try:
        DataConfig.from_dict(info.get("data"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{options.checkpoint}: its data settings are unusable: {exc}") from None


def _launch(options) -> int:
    """Start ``options.nproc`` processes running :func:`train_rank`; wait for them; report a failure in one line."""
    from ._torch import torch_missing

    try:
        import torch.multiprocessing as mp
    except ImportError:
        raise torch_missing() from None
    # After one worker fails, torch stops the others and logs a warning per process: the error line says it all.
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="gemini_np_ddp_") as folder:
        store = os.path.join(folder, "rendezvous")  # the processes find each other through this file
        context = mp.start_processes(train_rank, args=(options.nproc, vars(options), store), nprocs=options.nproc,
                                     join=False, start_method="spawn")
        try:
            while not context.join():
                pass
        except KeyboardInterrupt:
            for process in context.processes:
                process.terminate()
            raise
        except mp.ProcessRaisedException as exc:  # the worker's traceback is in the message: keep its last line
            last = [line for line in str(exc).splitlines() if line.strip()][-1]
            return _error(RuntimeError(f"rank {exc.error_index} failed: {last}"), EXIT_FAILED)
        except mp.ProcessExitedException as exc:
            return _error(RuntimeError(f"rank {exc.error_index} stopped with exit code {exc.exit_code}"), EXIT_FAILED)
    return 0


def train_rank(rank: int, world_size: int, options: dict, store: str) -> None:
    """One process of the run: join the group, train the DDP-wrapped twin, check, and (rank 0) save."""
    import numpy
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    from ..backend import to_numpy
    from ..data import DataConfig, load_split, model_inputs
    from .checkpoints import load_checkpoint_to_torch, save_torch_checkpoint

    torch.set_num_threads(options["threads"])
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        twin, info = load_checkpoint_to_torch(options["checkpoint"])
        data_config = DataConfig.from_dict(info["data"])
        train_set, _ = load_split(data_config)
        arrays = model_inputs(train_set, twin.config.dtype, data_config.ablate)  # tokens, images, labels
        dataset = TensorDataset(*(torch.from_numpy(numpy.asarray(to_numpy(a))) for a in arrays))
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=options["seed"])
        loader = DataLoader(dataset, batch_size=options["batch_size"], sampler=sampler)
        model = DistributedDataParallel(twin)  # broadcasts rank 0's parameters, then all-reduces every gradient
        optimizer = torch.optim.Adam(model.parameters(), lr=options["lr"])
        if rank == 0:
            print(f"{options['checkpoint']}: {len(dataset)} training pairs on {world_size} processes (gloo, CPU), "
                  f"{len(loader)} steps per epoch of {options['batch_size']} pairs per process, "
                  f"Adam lr {options['lr']:g}", flush=True)
        for epoch in range(1, options["epochs"] + 1):
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one on every rank
            totals = torch.zeros(2, dtype=torch.float64)  # sum of losses · pairs, pairs
            for tokens, images, labels in loader:
                loss = F.binary_cross_entropy_with_logits(model(tokens, images), labels)
                optimizer.zero_grad()
                loss.backward()  # DDP averages the gradients over the processes during this call
                optimizer.step()  # the same step everywhere: the parameters stay identical
                totals += torch.tensor([loss.item() * len(labels), len(labels)], dtype=torch.float64)
            dist.all_reduce(totals)  # sum over the processes
            if rank == 0:
                mean_loss = float(totals[0] / totals[1])
                print(f"epoch {epoch}/{options['epochs']}: training loss {mean_loss:.4f}", flush=True)
        digests = [None] * world_size
        dist.all_gather_object(digests, parameter_digest(twin))
        if rank == 0:
            for r, digest in enumerate(digests):
                print(f"rank {r}: parameters sha256 {digest}", flush=True)
            if len(set(digests)) != 1:
                raise RuntimeError("the processes ended with different parameters; nothing saved")
            extra = {k: v for k, v in info.items() if k != "metrics"}  # the old metrics describe the old weights
            extra["ddp"] = {**{k: options[k] for k in DEFAULTS}, "continued_from": str(options["checkpoint"])}
            print(f"checkpoint saved to {save_torch_checkpoint(options['save'], twin, extra)}", flush=True)
    finally:
        dist.destroy_process_group()


def parameter_digest(module) -> str:
    """SHA-256 of every parameter's bytes, in ``named_parameters`` order: equal digests, equal parameters."""
    h = hashlib.sha256()
    for name, p in module.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
