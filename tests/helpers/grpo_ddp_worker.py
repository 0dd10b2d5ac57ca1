"""Worker for tests/grpo/test_grpo_trainer.py::test_two_processes_match_one: one RTT-GRPO step under torchrun (gloo,
CPU); each rank saves what it computed. Usage: worker OUT POLICY DISC IFEVAL NORM PER_DEVICE [CREDIT RESPONSE_ADV]."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from datasets import Dataset
from grpo_items import varying_items

from grpo.rewards import rows_from_items
from grpo.rtt_grpo_config import RTTGRPOConfig
from grpo.rtt_grpo_trainer import RTTGRPOTrainer


def main() -> None:
    out, policy, disc, ifeval, norm, per_device = sys.argv[1:7]
    credit, response_adv = sys.argv[7:9] + ["paper", "grpo"][len(sys.argv[7:9]) :]
    items = varying_items(2)  # rewards vary inside a group: the response advantage is not 0 (IFEVAL unused)
    args = RTTGRPOConfig(
        output_dir=out,
        per_device_train_batch_size=int(per_device),
        num_generations=4,
        max_completion_length=16,
        max_steps=1,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        seed=0,
        rtt_token_norm=norm,
        rtt_beta=0.5,
        rtt_alpha=0.7,
        rtt_reward="weighted",
        discriminator_path=disc,
        rtt_token_credit=credit,
        rtt_centred_scale="std",
        rtt_response_advantage=response_adv,
    )
    tr = RTTGRPOTrainer(policy, args=args, train_dataset=Dataset.from_list(rows_from_items(items)))
    tr.train()
    last = tr.last_rtt
    torch.save(
        {
            **{k: last[k].cpu() for k in ("rewards", "resp_adv", "tok_adv", "adv", "mask", "relevance")},
            "s": torch.as_tensor(last["verdicts"].arrays.s),
            "use": torch.as_tensor(last["verdicts"].arrays.use),
            "weights": torch.as_tensor(last["verdicts"].arrays.weights),
            "nproc": tr.accelerator.num_processes,
            "rank": tr.accelerator.process_index,
            "global_rewards": tr._global_rewards("cpu").cpu(),
        },
        Path(out) / f"rank{tr.accelerator.process_index}.pt",
    )


if __name__ == "__main__":
    main()
