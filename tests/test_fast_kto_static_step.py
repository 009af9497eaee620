"""The fixed-shape KTO step (what the GPU captures as CUDA graphs): its batches, its gradients
hand-over, and when it steps aside. Its numbers against stock: test_fast_kto_equivalence.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trl import KTOTrainer

from fast_kto_helpers import logged_step, make_trainer
from vlcultura.train.fast.batches import FEATURES_KEY
from vlcultura.train.fast.cuda_graphs import GraphedTrainStep
from vlcultura.train.fast.static_step import (LENGTH_MULTIPLE, NotRightPadded, compile_decoder_layers,
                                              restore_decoder_layers, static_batch)
from vlcultura.train.fast_kto import FastKTOTrainer


def test_batches_are_right_padded_to_a_multiple_with_features_at_image_tokens(tmp_path):
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path)
    parts = fast._static_step.parts
    for batch in fast.get_train_dataloader().dataset.batches:
        assert "pixel_values" not in batch
        for prefix in ("", "KL_"):
            ids = batch[f"{prefix}input_ids"]
            assert ids.size(1) % LENGTH_MULTIPLE == 0
            positions = batch[f"{prefix}image_positions"]
            assert positions.numel() == batch[FEATURES_KEY].size(0) > 0
            assert (ids.reshape(-1)[positions] == parts.image_token_id).all()
            mask = batch[f"{prefix}attention_mask"]
            assert torch.equal(mask.cumprod(-1), mask)  # real tokens first, pads after
            assert (ids[mask == 0] == parts.pad_token_id).all()


def test_identity_lora_gives_rewards_of_exactly_zero(tmp_path):
    # the reference comes from the same fixed-shape code, so policy == reference bit for bit
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path, lora_scale=0.0)
    batch = next(iter(fast.get_train_dataloader()))
    with torch.no_grad():
        fast.compute_loss(fast.model, fast._prepare_inputs(batch))
    metrics = fast._metrics["train"]
    assert metrics["rewards/chosen"][-1] == metrics["rewards/rejected"][-1] == metrics["kl"][-1] == 0.0


def test_left_padded_batch_is_refused(tmp_path):
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path)
    ids = torch.tensor([[0, 5, 6], [5, 6, 7]])
    batch = {"input_ids": ids, "attention_mask": torch.tensor([[0, 1, 1], [1, 1, 1]]),
             "completion_mask": torch.tensor([[0, 0, 1], [0, 0, 1]]), "label": torch.tensor([True, False])}
    with pytest.raises(NotRightPadded, match="padding before real tokens"):
        static_batch(batch, None, fast._static_step.parts)


@pytest.mark.parametrize(("family", "overrides", "reason"), [
    ("gemma3", {}, "model type 'gemma3'"),
    ("smolvlm", {"gradient_checkpointing": True}, "gradient checkpointing"),
    ("smolvlm", {"torch_compile": True}, "torch_compile=True"),
])
def test_steps_aside_with_a_reason_and_stays_on_the_eager_fast_path(tmp_path, family, overrides, reason):
    fast = make_trainer(FastKTOTrainer, family, tmp_path, **overrides)
    assert fast.fast_path and not fast.fast_static_step and not fast.fast_cuda_graphs
    assert any(reason in r for r in fast.fast_static_reasons), fast.fast_static_reasons


def test_no_cuda_graphs_on_cpu(tmp_path):
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path)
    assert fast.fast_static_step and not fast.fast_cuda_graphs


def test_graph_gradients_become_grad_or_are_accumulated():
    params = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))]
    graphed = GraphedTrainStep(step=lambda batch: {}, params=params)
    owned = [torch.ones(3), torch.full((2,), 2.0)]  # what a replay wrote into the graph's buffers
    graphed._hand_over_grads(owned, accumulate=False)
    assert params[0].grad is owned[0] and params[1].grad is owned[1]  # no copy without accumulation
    for p in params:
        p.grad = None
    graphed._hand_over_grads(owned, accumulate=True)
    assert params[0].grad is not owned[0]  # a copy: the next replay overwrites the buffers
    owned[0].fill_(10.0)
    owned[1].fill_(20.0)
    graphed._hand_over_grads(owned, accumulate=True)
    assert params[0].grad.tolist() == [11.0] * 3 and params[1].grad.tolist() == [22.0] * 2


def test_compiled_decoder_layers_compute_the_same_function(tmp_path):
    # what CUDA-graph runs use: one torch.compile'd layer function shared by all layers, reference included
    stock = make_trainer(KTOTrainer, "smolvlm", tmp_path / "stock", lora_seed=7, lora_scale=1.0)
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "fast", lora_seed=7, lora_scale=1.0)
    backbone = fast._static_step.parts.backbone
    compile_decoder_layers(backbone)
    try:
        for stock_batch, fast_batch in zip(stock.get_train_dataloader(), fast.get_train_dataloader(), strict=True):
            (expected, _), (got, _) = logged_step(stock, stock_batch), logged_step(fast, fast_batch)
            # fused kernels round the log-prob sums differently (~5e-8 of them); KL and rewards are
            # differences of those sums, so their bound scales with the sums
            resolution = 1e-6 * max(abs(expected["logps/chosen"]), abs(expected["logps/rejected"]))
            for key in ("loss", "kl", "rewards/chosen", "rewards/rejected", "logps/chosen"):
                bound = max(1e-5 * abs(expected[key]), resolution)
                assert abs(got[key] - expected[key]) <= bound, (key, expected[key], got[key])
    finally:
        restore_decoder_layers(backbone)
        torch._dynamo.reset()
    assert all("forward" not in vars(layer) for layer in backbone.layers)


def test_pending_graph_statistics_are_logged_as_training_metrics(tmp_path):
    # graph steps hand their statistics over at the next log; an evaluation's log in between
    # must not take them as eval metrics
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path)
    batch = fast._prepare_inputs(next(iter(fast.get_train_dataloader())))
    with torch.no_grad():
        fast._pending_stats.append((fast._static_step(batch)["stats"], batch))
    fast.model.eval()
    fast.log({"eval_loss": 0.5})
    assert not fast._pending_stats
    assert len(fast._metrics["train"]["rewards/chosen"]) == 1 and not fast._metrics["eval"]
    assert "eval_rewards/chosen" not in fast.state.log_history[-1]
