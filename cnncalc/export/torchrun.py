"""`cnncalc export --train-script`: train.py, the exported module trained with DistributedDataParallel
under torchrun, with `cnncalc train`'s options and checkpoints.

The script reads its data with cnncalc's own loaders (cnncalc.data: IDX, CIFAR-10 batches, .npz, the
synthetic set, a fetched set's name; the same validation split for the same seed, the same per-channel
normalisation) and writes last.npz / best.npz with cnncalc's checkpoint writer (engine.checkpoint), so
`cnncalc evaluate RUN` and `cnncalc train --resume RUN` take the run back. It therefore needs cnncalc
installed beside torch on the machines that train; the module file itself needs only torch.
"""

from __future__ import annotations

TEMPLATE = '''"""Train __CLASS__ (__MODULE__.py) with DistributedDataParallel under torchrun; written by cnncalc export.

One machine, two processes:
    torchrun --standalone --nproc_per_node=2 train.py --epochs 3 --out runs/__NAME__
Several machines (run on each, NODE_RANK 0 on the first):
    torchrun --nnodes=2 --nproc_per_node=8 --node-rank=NODE_RANK --rdzv-backend=c10d \\\\
        --rdzv-endpoint=HOST:29500 train.py --data mnist --epochs 10 --out runs/__NAME__

gloo on CPUs, nccl when CUDA is available (one GPU per process, LOCAL_RANK). The options are
`cnncalc train`'s, --batch-size per process. Data come through cnncalc's loaders and rank 0 writes
OUT/last.npz and OUT/best.npz in cnncalc's checkpoint format: `cnncalc evaluate OUT`, `cnncalc train
--resume OUT` and `cnncalc predict OUT/best.npz ...` read them.
"""

import argparse
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from cnncalc import data as cnncalc_data
from cnncalc.engine import checkpoint

from __MODULE__ import __CLASS__

SPEC_FILE = __SPEC_FILE__
SPEC_TEXT = __SPEC_TEXT__
INPUT_OVERRIDE = __INPUT__  # the --input the export was given (n_H, n_W, n_C), or None
INPUT_SHAPE = __INPUT_SHAPE__  # the spec's input: (n_H, n_W, n_C) or (n,)
N_CLASSES = __N_CLASSES__
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.01}


def options():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="An IDX folder or file, a cifar-10-batches-py folder, an .npz, "
                                                "a fetched set's name, or 'synthetic' (default).")
    p.add_argument("--epochs", type=int, default=None, help="Epochs to train (default 3); with --resume, the new total.")
    p.add_argument("--batch-size", type=int, default=64, help="Images per step and process.")
    p.add_argument("--lr", type=float, default=None, help="Learning rate (default 1e-3 adam, 0.01 sgd).")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum.")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", choices=("constant", "step", "cosine"), default="constant",
                   help="step: x0.1 every third of the run; cosine annealing over the run.")
    p.add_argument("--seed", type=int, default=0, help="Seeds initialisation, shuffling and the validation split.")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--limit", type=int, default=None, help="Train on the first N training images, by class.")
    p.add_argument("--data-dir", default=None, help="Where fetched data sets are looked up.")
    p.add_argument("--out", default="runs/__NAME__-torchrun", help="Run directory.")
    p.add_argument("--resume", default=None, metavar="DIR", help="Continue the run in DIR (its last.npz).")
    p.add_argument("--max-steps", type=int, default=None, help="At most this many steps per epoch (a smoke test).")
    return p.parse_args()


def lr_at(schedule, base, epoch, epochs):
    """cnncalc's schedules: constant; step x0.1 every max(epochs // 3, 1) epochs; cosine to 0 over the run."""
    if schedule == "step":
        return base * 0.1 ** (epoch // max(epochs // 3, 1))
    if schedule == "cosine":
        return base * (1 + math.cos(math.pi * epoch / max(epochs, 1))) / 2
    return base


def to_torch(x):
    """Images (m, n_H, n_W, n_C) → (m, n_C, n_H, n_W); for a vector input, flattened in (n_H, n_W, n_C) order."""
    if len(INPUT_SHAPE) == 1:
        return torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1), np.float32))
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32))


def losses(model, x, y, train):
    """(the loss to step on, the main head's loss, its logits): cross-entropy, plus each aux head's weighted."""
    weights = __CLASS__.AUX_WEIGHTS
    if train and weights:
        logits, aux = model(x, aux=True)
        main = F.cross_entropy(logits, y)
        return main + sum(w * F.cross_entropy(a, y) for w, a in zip(weights, aux)), main, logits
    logits = model(x, logits=True)
    main = F.cross_entropy(logits, y)
    return main, main, logits


@torch.no_grad()
def evaluate(model, x, y, device, batch=256):
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(y), batch):
        xb, yb = x[i:i + batch].to(device), y[i:i + batch].to(device)
        _, main, logits = losses(model, xb, yb, False)
        total += float(main) * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
    return total / len(y), correct / len(y)


def optimizer_state(opt, model, name, steps):
    """The optimiser's state as cnncalc keeps it: m.<p>, v.<p> (adam) or velocity.<p> (sgd), and t, the steps taken."""
    out = {}
    for key, p in model.named_parameters():
        st = opt.state.get(p, {})
        zero = np.zeros(tuple(p.shape), np.float32)
        if name == "adam":
            out["m." + key] = st["exp_avg"].cpu().numpy() if "exp_avg" in st else zero
            out["v." + key] = st["exp_avg_sq"].cpu().numpy() if "exp_avg_sq" in st else zero
        else:
            buf = st.get("momentum_buffer")
            out["velocity." + key] = buf.cpu().numpy() if buf is not None else zero
    out["t"] = np.array(steps)
    return out


def load_optimizer_state(opt, model, name, state):
    t = int(state["t"])
    if t == 0:
        return
    for key, p in model.named_parameters():
        if name == "adam":
            opt.state[p] = {"step": torch.tensor(float(t)), "exp_avg": torch.from_numpy(state["m." + key].copy()).to(p),
                            "exp_avg_sq": torch.from_numpy(state["v." + key].copy()).to(p)}
        elif state.get("velocity." + key) is not None and state["velocity." + key].size:
            opt.state[p] = {"momentum_buffer": torch.from_numpy(state["velocity." + key].copy()).to(p)}


def main():
    args = options()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    model = __CLASS__()
    history, best, start, config = [], -1.0, 0, None
    if args.resume:
        weights, optim_saved, meta = checkpoint.load(args.resume)
        config = dict(meta["config"])
        history, best, start = [dict(r) for r in meta["history"]], meta.get("best_val_acc", -1.0), meta["epoch"]
        model.load_state_dict({k: torch.from_numpy(np.asarray(v).copy()) for k, v in weights.items()}, strict=True)
        if args.epochs is not None:
            config["epochs"] = args.epochs
        out = args.resume if os.path.isdir(args.resume) else os.path.dirname(os.path.abspath(args.resume))
    else:
        torch.manual_seed(args.seed)
        model = __CLASS__()  # PyTorch's default initialisation, seeded: the same on every rank
        data = args.data or "synthetic"
        config = {"spec": os.path.abspath(SPEC_FILE), "data": data if data == "synthetic" or not os.path.exists(data)
                  else os.path.abspath(data), "epochs": args.epochs or 3, "batch_size": args.batch_size,
                  "lr": args.lr if args.lr is not None else DEFAULT_LR[args.optimizer], "optimizer": args.optimizer,
                  "momentum": args.momentum, "weight_decay": args.weight_decay, "schedule": args.schedule,
                  "seed": args.seed, "val_fraction": args.val_fraction,
                  "input": list(INPUT_OVERRIDE) if INPUT_OVERRIDE else None, "limit": args.limit,
                  "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None,
                  "init": {"scheme": "torch", "description": "PyTorch's defaults (torch.manual_seed(seed))"},
                  "trainer": "torchrun", "world_size": world}
        out = args.out
    dataset = cnncalc_data.load(None if config["data"] == "synthetic" else config["data"],
                                input_shape=tuple(INPUT_SHAPE) if len(INPUT_SHAPE) == 3 else None,
                                n_classes=N_CLASSES, seed=config["seed"], val_fraction=config["val_fraction"],
                                limit=config.get("limit"), data_dir=config.get("data_dir"))
    if args.resume and meta["mean"] is not None:  # the statistics the network was trained with
        for split in (dataset.train, dataset.val, dataset.test):
            if split is not None and len(split.y):
                split.x = cnncalc_data.normalise(split.x * dataset.std + dataset.mean, meta["mean"], meta["std"])
        dataset.mean, dataset.std = meta["mean"], meta["std"]
    splits = {name: (to_torch(s.x), torch.from_numpy(np.asarray(s.y, np.int64)))
              for name, s in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test))
              if s is not None and len(s.y)}
    model.to(device)
    ddp = DistributedDataParallel(model, device_ids=[local] if cuda else None)
    name = config["optimizer"]
    if name == "adam":
        opt = torch.optim.Adam(ddp.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    else:
        opt = torch.optim.SGD(ddp.parameters(), lr=config["lr"], momentum=config["momentum"],
                              weight_decay=config["weight_decay"])
    steps = 0
    if args.resume:
        load_optimizer_state(opt, model, name, optim_saved)
        steps = int(optim_saved["t"])
    train_set = TensorDataset(*splits["train"])
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=config["seed"])
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    loader = DataLoader(train_set, batch_size=config["batch_size"], sampler=sampler,
                        drop_last=has_bn and len(sampler) > config["batch_size"])
    print(f"rank {rank} of {world}: {device}, {dist.get_backend()}, {len(sampler)} of "
          f"{len(train_set)} training images", flush=True)
    os.makedirs(out, exist_ok=True)
    for epoch in range(start, config["epochs"]):
        lr = lr_at(config["schedule"], config["lr"], epoch, config["epochs"])
        for group in opt.param_groups:
            group["lr"] = lr
        sampler.set_epoch(epoch)
        ddp.train()
        began = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss · images, correct, images
        for step, (xb, yb) in enumerate(loader):
            if args.max_steps is not None and step >= args.max_steps:
                break
            xb, yb = xb.to(device), yb.to(device)
            loss, main, logits = losses(ddp, xb, yb, True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            # train_loss as cnncalc train reports it: the weighted total the gradients follow (aux heads included)
            sums += torch.tensor([float(loss.detach()) * len(yb), float((logits.argmax(1) == yb).sum()), len(yb)],
                                 dtype=torch.float64, device=device)
        dist.all_reduce(sums)
        seconds = time.perf_counter() - began
        row = {"epoch": epoch + 1, "train_loss": float(sums[0] / sums[2]), "train_acc": float(sums[1] / sums[2]),
               "lr": lr, "seconds": seconds, "images_per_s": float(sums[2]) / seconds if seconds > 0 else 0.0}
        if rank == 0:
            if "val" in splits:
                row["val_loss"], row["val_acc"] = evaluate(model, *splits["val"], device)
            if "test" in splits and epoch + 1 == config["epochs"]:
                row["test_loss"], row["test_acc"] = evaluate(model, *splits["test"], device)
            history.append(row)
            meta = {"spec": SPEC_TEXT, "spec_file": SPEC_FILE, "config": config, "epoch": epoch + 1,
                    "evaluated": epoch + 1, "rng": np.random.default_rng([config["seed"], 1]).bit_generator.state,
                    "n_classes": N_CLASSES, "class_names": list(dataset.class_names or []), "history": history,
                    "best_val_acc": best, "input_shape": list(INPUT_SHAPE)}
            weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
            state = optimizer_state(opt, model, name, steps)
            score = row.get("val_acc", row["train_acc"])
            if score > best:
                best = meta["best_val_acc"] = score
                checkpoint.save(os.path.join(out, "best.npz"), weights, state, meta, dataset.mean, dataset.std)
            checkpoint.save(os.path.join(out, "last.npz"), weights, state, meta, dataset.mean, dataset.std)
            shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
            print(f"epoch {epoch + 1}/{config['epochs']}  {shown}", flush=True)
        dist.barrier()
    if rank == 0:
        print(f"saved {os.path.join(out, 'last.npz')}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
'''


def script_source(module: str, cls: str, spec_text: str, spec_file: str, input_override, input_shape,
                  n_classes: int, name: str) -> str:
    """train.py for the module `module`.py holding class `cls`, trained on the spec (its text and file
    are what the checkpoints record, as `cnncalc train`'s do)."""
    values = {"__MODULE__": module, "__CLASS__": cls, "__SPEC_FILE__": repr(spec_file),
              "__SPEC_TEXT__": repr(spec_text), "__INPUT_SHAPE__": repr(tuple(input_shape)),
              "__INPUT__": repr(tuple(input_override) if input_override else None),
              "__N_CLASSES__": repr(n_classes), "__NAME__": name}
    text = TEMPLATE
    for key in sorted(values, key=len, reverse=True):
        text = text.replace(key, values[key])
    return text
