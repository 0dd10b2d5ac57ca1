"""The options of :class:`~grpo.rtt_grpo_trainer.RTTGRPOTrainer`: :class:`RTTGRPOConfig` is ``trl.GRPOConfig`` plus
the ``rtt_*`` knobs (``beta`` stays TRL's KL coefficient; the RTT token weight is ``rtt_beta``). Beside the
trainer as TRL keeps ``grpo_config.py`` beside ``grpo_trainer.py``; the YAML file of ``rtt train policy`` that
builds one is :mod:`grpo.train_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from grpo.renamed import refuse_renamed_response_advantage

_CHOICES = {
    "rtt_token_norm": ("intra", "inter", "none"),
    "rtt_combine": ("add", "mix"),
    "rtt_reward": ("aon", "csr", "weighted", "healthbench"),
    "relevance_reduce": ("max", "mean"),
    "verdicts_undecided": ("fail", "skip"),
    "rtt_response_advantage": ("grpo", "trl", "gdpo"),
    "rtt_token_credit": ("paper", "centred", "blame", "group_softmax", "weights"),
    "rtt_centred_scale": ("none", "std"),
    "rtt_relevance": ("discriminator", "rules", "rules+discriminator"),
}


@dataclass
class RTTGRPOConfig(GRPOConfig):
    """:class:`trl.GRPOConfig` plus the RTT knobs (``beta`` stays TRL's KL coefficient)."""

    _VALID_DICT_FIELDS = GRPOConfig._VALID_DICT_FIELDS + ["judge_config"]

    rtt_alpha: float = field(default=1.0, metadata={"help": "Weight of the response-level advantage ('add')."})
    rtt_beta: float = field(default=0.5, metadata={"help": "Weight of the token-level advantage; 0 = plain GRPO."})
    rtt_token_norm: str = field(
        default="intra", metadata={"help": "'intra' (paper), 'inter' (baseline) or 'none' (no token term)."}
    )
    rtt_combine: str = field(
        default="add", metadata={"help": "'add': a*A_resp + b*A_tok; 'mix': (1-b)*A_resp + b*A_tok."}
    )
    rtt_reward: str = field(
        default="aon", metadata={"help": "Rubric reward: 'aon', 'csr', 'weighted' or 'healthbench'."}
    )
    rtt_eps: float = field(default=1e-6, metadata={"help": "Added to every std (response and token)."})
    rtt_response_advantage: str = field(
        default="grpo",
        metadata={
            "help": "'grpo': GRPO on the summed reward, (r - mean) / (unbiased std + rtt_eps) on the global "
            "batch; 'trl': TRL's own "
            "response advantage (eps 1e-4), so rtt_beta = 0 is bit-for-bit TRL GRPO; 'gdpo': "
            "each rubric z-scored within its group, summed, z-scored over the batch."
        },
    )
    rtt_token_credit: str = field(
        default="paper",
        metadata={
            "help": "Token credit: 'paper' (z-scored s*w, the faithful reproduction), 'centred' (verdicts "
            "centred within the group, bounded), 'blame' (the failed rubrics' side of 'centred' only: never "
            "pushes a token up), 'group_softmax' (the authors' second mode) or "
            "'weights' (CoRT form: mean-1 token weights multiplying the response advantage)."
        },
    )
    rtt_centred_scale: str = field(
        default="none",
        metadata={"help": "'centred' and 'blame' credit: 'none' (s - group mean) or 'std' (also / group std)."},
    )
    rtt_weight_cap: float = field(default=4.0, metadata={"help": "'weights' credit: cap of relevance / its mean."})
    rtt_relevance: str = field(
        default="discriminator",
        metadata={
            "help": "Relevance source: 'discriminator', 'rules' (exact rule spans; rubrics without them get "
            "none) or 'rules+discriminator' (rule spans where the rule names them, else the discriminator)."
        },
    )
    rtt_compat_public_reshape: bool = field(
        default=False, metadata={"help": "Reproduce the public code's reshape defect (comparison runs only)."}
    )
    discriminator_path: str | None = field(default=None, metadata={"help": "Relevance discriminator folder."})
    relevance_reduce: str = field(default="max", metadata={"help": "Projection onto policy tokens: 'max' or 'mean'."})
    discriminator_token_budget: int = field(default=16384, metadata={"help": "Padded tokens per discriminator batch."})
    judge_config: dict | str | None = field(
        default=None, metadata={"help": "rubrics.llm.LLMConfig fields for the LLM judge (None: rule checkers only)."}
    )
    verdicts_loose: bool = field(default=False, metadata={"help": "IFEval loose checking for training rewards."})
    verdicts_undecided: str = field(default="fail", metadata={"help": "Undecided judge verdicts: 'fail' or 'skip'."})
    max_rubrics: int = field(default=20, metadata={"help": "Use at most this many rubrics per prompt."})
    heatmap_every: int = field(default=0, metadata={"help": "Write an HTML token heatmap every N steps (0: off)."})
    heatmap_count: int = field(default=4, metadata={"help": "Responses per heatmap."})

    def __post_init__(self):
        super().__post_init__()
        refuse_renamed_response_advantage(
            self.rtt_response_advantage, named="rtt_response_advantage=", fix="set rtt_response_advantage='grpo'"
        )
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.rtt_beta < 0:
            raise ValueError(f"rtt_beta must be >= 0, got {self.rtt_beta}")
        if self.max_rubrics < 1:
            raise ValueError("max_rubrics must be >= 1")
        if self.rtt_token_credit == "weights" and self.rtt_combine != "add":
            raise ValueError("rtt_token_credit='weights' multiplies the response advantage: it needs rtt_combine='add'")
        if self.rtt_weight_cap < 1:
            raise ValueError(f"rtt_weight_cap must be >= 1, got {self.rtt_weight_cap}")
        if self.rtt_compat_public_reshape and self.rtt_token_credit != "paper":
            raise ValueError("rtt_compat_public_reshape applies to rtt_token_credit='paper' only")

    @property
    def token_term_on(self) -> bool:
        return self.rtt_beta != 0.0 and self.rtt_token_norm != "none"

    @property
    def needs_discriminator(self) -> bool:
        return self.token_term_on and self.rtt_relevance != "rules"
