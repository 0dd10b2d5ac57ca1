"""RTT-GRPO on top of TRL: :class:`RTTGRPOTrainer` extends ``trl.GRPOTrainer`` with token-level advantages; its
options are :class:`~grpo.rtt_grpo_config.RTTGRPOConfig` (as TRL pairs ``grpo_trainer.py`` with ``grpo_config.py``).

What changes against TRL (1.16): after TRL has generated, scored and normalised a batch
(``_generate_and_score_completions``), the trainer

1. takes the rubric verdicts the :class:`~grpo.rewards.RubricReward` reward function computed for the local
   completions (rule checker first, LLM judge otherwise; async and cached) - nothing is judged twice;
2. scores relevance of every policy token to every rubric of its prompt (``rtt_relevance``): with the
   discriminator (:meth:`discriminator.scoring.RelevanceScorer.score_for_policy`: shared-vocabulary fast path or
   character projection), all (response, rubric) pairs of the step in one bucketed call; or with the exact spans
   of the rule checkers (:mod:`discriminator.rule_spans`), the discriminator scoring only the rubrics whose rule
   has none (``rules+discriminator``);
3. computes the joint advantage with :mod:`grpo.advantages` (``rtt_token_credit``: the paper's z-scored term, a
   group-centred bounded term, the authors' group-softmax mode or CoRT-style token weights;
   ``rtt_response_advantage="gdpo"`` for GDPO's per-rubric normalise-then-sum) and replaces ``advantages``
   (``(B,)``) by a ``(B, T)`` tensor, which TRL's ``_compute_loss`` consumes as is (it unsqueezes only 1-D
   advantages).

Everything else is TRL's: generation (transformers / vLLM colocate / vLLM server), PEFT, DeepSpeed / FSDP via
``accelerate launch``, loss types, clipping (``epsilon`` / ``epsilon_high``), KL (``beta``), logging backends.

Rewards. The response reward is TRL's reward: the weighted sum of all reward functions, the RubricReward
(AON / CSR / weighted) being one of them (added first when the caller passes none), so TRL's own logging
(``rewards/rtt_aon/mean``, completions table) keeps working and extra reward functions still count. The
response advantage is GRPO's on the summed reward (``rtt_response_advantage="grpo"``: unbiased group std +
``rtt_eps``, docs/method.md) on the *global* batch; with
``rtt_response_advantage="trl"`` or ``multi_objective_aggregation="normalize_then_sum"`` TRL's own response
advantage (eps 1e-4) is used instead, and then ``rtt_beta = 0`` hands TRL's loss exactly TRL's advantages
(bit for bit; tests/grpo/test_grpo_trainer.py::test_beta_zero_trl_mode_is_bit_for_bit_trl_grpo).

Special tokens (EOS, chat end markers) inside the completion mask get relevance exactly 0. The discriminator
is loaded replicated on every process (eval, no grad), outside ZeRO-3's ``zero.Init`` (:mod:`grpo.frozen`).

Batching and processes. TRL's sampler puts the ``num_generations`` completions of a prompt next to each other
in the global generation batch, and each process holds the contiguous slice ``[rank*B, (rank+1)*B)``; so the
global group id of local row ``i`` is ``(rank*B + i) // num_generations``. TRL gathers the rewards of all
processes; the response advantage is computed on that global vector, then sliced. The intra-sample token
term needs only each response's own tokens (local, no communication). The inter-sample baseline needs
per-(group, rubric) pooled statistics, which are all-gathered (sums, counts, max) across processes; so do the
group-centred credits (per-(group, rubric) verdict sums), and GDPO gathers the verdicts of the whole batch.

Note the KL coefficient keeps TRL's name ``beta``; the RTT token weight is ``rtt_beta``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import torch
from trl import GRPOTrainer

from grpo import advantages
from grpo.frozen import load_frozen_scorer
from grpo.heatmap import HeatmapResponse, HeatmapRubric, write_heatmap
from grpo.judge import build_judge
from grpo.metrics import (
    average_dicts,
    group_signal_metrics,
    relevance_metrics,
    token_metrics,
    token_signal,
    verdict_metrics,
)
from grpo.rewards import RubricReward, RubricVerdicts
from grpo.rtt_grpo_config import RTTGRPOConfig

logger = logging.getLogger(__name__)


class RTTGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` with RTT token-level advantages (see the module docstring).

    Extra arguments: ``judge`` (an ``LLMJudge``; default built from ``args.judge_config``) and ``scorer`` (a
    ``RelevanceScorer``; default loaded from ``args.discriminator_path`` when the token term is on). The
    dataset needs ``prompt`` and ``rubric_item`` (RubricItem JSON) columns, see :func:`grpo.rewards.rows_from_items`.
    Without a :class:`~grpo.rewards.RubricReward` among ``reward_funcs`` one is put first, so a
    ``reward_weights`` list must then cover ``[rubric reward, *reward_funcs]``.
    """

    def __init__(
        self, model, reward_funcs=None, args: RTTGRPOConfig | None = None, *pargs, judge=None, scorer=None, **kwargs
    ):
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
            args = RTTGRPOConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1]}-RTT-GRPO")
        if not isinstance(args, RTTGRPOConfig):
            raise TypeError(f"args must be an RTTGRPOConfig, got {type(args).__name__}")
        funcs = (
            []
            if reward_funcs is None
            else list(reward_funcs)
            if isinstance(reward_funcs, (list, tuple))
            else [reward_funcs]
        )
        rubric = next((f for f in funcs if isinstance(f, RubricReward)), None)
        if rubric is None:
            rubric = RubricReward(
                args.rtt_reward,
                judge=judge if judge is not None else build_judge(args.judge_config),
                loose=args.verdicts_loose,
                max_rubrics=args.max_rubrics,
                undecided=args.verdicts_undecided,
            )
            funcs = [rubric, *funcs]
        self.rubric_reward = rubric
        if scorer is None and args.needs_discriminator and not args.discriminator_path:
            raise ValueError(
                "RTTGRPOConfig.discriminator_path is required when rtt_beta > 0 and rtt_token_norm != 'none' "
                "(unless rtt_relevance='rules')"
            )
        super().__init__(model, funcs, args, *pargs, **kwargs)
        self.scorer = scorer
        self.relevance_sources: dict[tuple[int, int], str] = {}
        if self.scorer is None and args.needs_discriminator:
            # replicated on every process, eval, no grad - also under ZeRO-3 (see grpo.frozen)
            self.scorer = load_frozen_scorer(
                args.discriminator_path, device=self.accelerator.device, token_budget=args.discriminator_token_budget
            )
        self._rtt_rewards_per_func: torch.Tensor | None = None
        self._last_heatmap_step = -1
        self.last_rtt: dict[str, Any] = {}

    # -- TRL hooks -----------------------------------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rtt_rewards_per_func = rewards_per_func  # gathered over processes: (N_global, n_funcs)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        t0 = time.perf_counter()
        self.rubric_reward.last = None
        out = super()._generate_and_score_completions(inputs)
        t_trl = time.perf_counter() - t0
        out["advantages"], timings = self._rtt_advantages(inputs, out)
        timings["trl_generate_and_score"] = t_trl
        self._log_times(timings)
        return out

    # -- RTT -----------------------------------------------------------------------------------------------------
    def _group_reduce(self, t: torch.Tensor, op: str) -> torch.Tensor:
        if self.accelerator.num_processes == 1:
            return t
        g = self.accelerator.gather(t.unsqueeze(0))
        return g.sum(0) if op == "sum" else g.amax(0)

    def _gdpo_advantages(
        self, s: torch.Tensor, use: torch.Tensor, weights: torch.Tensor | None, num_gen: int
    ) -> torch.Tensor:
        """The GDPO response advantage (:func:`grpo.advantages.gdpo_advantages`) of the *global* batch, sliced to
        this process: verdicts (padded to ``max_rubrics``) are gathered first, so the batch statistics match."""
        nproc, rank, b = self.accelerator.num_processes, self.accelerator.process_index, s.shape[0]
        if nproc > 1:
            pad = self.args.max_rubrics - s.shape[1]
            s, use = (torch.nn.functional.pad(x, (0, pad)) for x in (s, use))
            s, use = self.accelerator.gather(s), self.accelerator.gather(use)
            if weights is not None:
                weights = self.accelerator.gather(torch.nn.functional.pad(weights, (0, pad)))
        gid = torch.arange(s.shape[0], device=s.device) // num_gen
        coef = advantages.rubric_coefficients(use, weights, torch.float32)
        adv = advantages.gdpo_advantages(s, use, gid, coef, eps=self.args.rtt_eps, num_groups=s.shape[0] // num_gen)
        return adv[rank * b : (rank + 1) * b]

    def _global_rewards(self, device) -> torch.Tensor:
        rpf = self._rtt_rewards_per_func
        rewards = (rpf * self.reward_weights.to(device).unsqueeze(0)).nansum(dim=1)
        rewards[torch.isnan(rpf).all(dim=1)] = torch.nan
        return rewards

    def _relevance_pairs(self, v: RubricVerdicts, completion_mask: torch.Tensor) -> list[tuple[int, int]]:
        """``(response, rubric slot)`` pairs to score: used slots of non-empty completions."""
        use = v.arrays.use
        lengths = completion_mask.sum(-1).tolist()
        return [
            (i, k)
            for i, item in enumerate(v.items)
            for k in range(len(item.rubrics))
            if use[i, k] and int(lengths[i]) > 0
        ]

    def rule_relevance(
        self,
        v: RubricVerdicts,
        ids_cpu: torch.Tensor,
        lengths: list,
        pairs,
        rel: torch.Tensor,
        *,
        exact_only: bool = True,
    ) -> list[tuple[int, int]]:
        """Fill ``rel`` with rule spans (:func:`discriminator.rule_spans.rule_chars`) projected onto the policy
        tokens for every pair whose rule has them; returns the pairs left without (no rule checker, or with
        ``exact_only`` no exact span). The span is of the rule's own verdict: a pitfall's flipped ``s`` is undone."""
        from discriminator.rule_spans import chars_onto_policy_tokens, rule_chars

        t = rel.shape[-1]
        left = []
        for i, k in pairs:
            item, text = v.items[i], v.texts[i]
            held = bool(v.arrays.s[i, k] > 0) != bool(v.arrays.weights[i, k] < 0)  # s is flipped for pitfalls
            chars = rule_chars(item.rubrics[k], text, held, item.instruction, exact_only=exact_only)
            if chars is None:
                left.append((i, k))
                continue
            n = int(lengths[i])
            sc = chars_onto_policy_tokens(chars, self._tokenizer, ids_cpu[i, :n].tolist(), text)
            rel[i, k, : min(n, t)] = sc[: min(n, t)]
        return left

    def discriminator_relevance(
        self, v: RubricVerdicts, ids_cpu: torch.Tensor, lengths: list, pairs, rel: torch.Tensor
    ) -> None:
        """Fill ``rel`` with the discriminator's scores for ``pairs``, all in one bucketed scorer call."""
        if not pairs:
            return
        t = rel.shape[-1]
        scores = self.scorer.score_for_policy(
            [v.items[i].rubrics[k].text for i, k in pairs],
            [v.texts[i] for i, _ in pairs],
            policy_tokenizer=self._tokenizer,
            response_token_ids=[ids_cpu[i, : int(lengths[i])].tolist() for i, _ in pairs],
            reduce=self.args.relevance_reduce,
        )
        for (i, k), sc in zip(pairs, scores):
            m = min(len(sc), t)
            rel[i, k, :m] = sc[:m].float()

    def relevance(self, v: RubricVerdicts, completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
        """``(B, R, T)`` relevance of each completion token to each used rubric (0 elsewhere), by
        ``rtt_relevance``: the discriminator (one scorer call for the step), exact rule spans, or rule spans where
        the rule has them and the discriminator for the rest. ``self.relevance_sources`` records the source of
        every scored pair (logged as ``rtt/relevance/from_rules``, shown in the heatmaps).

        Special tokens inside the completion mask (EOS, chat end markers) get exactly 0, whatever the source
        returns for them (:class:`~discriminator.scoring.RelevanceScorer` already does so on both paths)."""
        from discriminator.scoring import special_token_ids

        b, t = completion_ids.shape
        rel = torch.zeros(b, v.arrays.use.shape[1], t, dtype=torch.float32)
        lengths = completion_mask.sum(-1).tolist()
        ids_cpu = completion_ids.cpu()
        pairs = self._relevance_pairs(v, completion_mask)
        src = self.args.rtt_relevance
        left = pairs if src == "discriminator" else self.rule_relevance(v, ids_cpu, lengths, pairs, rel)
        if src != "rules":
            self.discriminator_relevance(v, ids_cpu, lengths, left, rel)
        rest = set(left)
        self.relevance_sources = {
            p: ("discriminator" if src != "rules" else "none") if p in rest else "rules" for p in pairs
        }
        specials = special_token_ids(self._tokenizer)
        if specials:
            is_special = torch.isin(ids_cpu, torch.tensor(sorted(specials), dtype=ids_cpu.dtype))
            rel.masked_fill_(is_special.unsqueeze(1), 0.0)
        return rel.to(completion_ids.device)

    def _rtt_advantages(self, inputs, out) -> tuple[torch.Tensor, dict[str, float]]:
        args: RTTGRPOConfig = self.args
        device = self.accelerator.device
        mode = "train" if self.model.training else "eval"
        v = self.rubric_reward.last
        b = len(inputs)
        if v is None or len(v.texts) != b:
            raise RuntimeError("the RubricReward reward function did not run on this batch")
        num_gen = self.num_generations if mode == "train" else self.num_generations_eval
        nproc, rank = self.accelerator.num_processes, self.accelerator.process_index
        n_global = b * nproc
        gid_global = torch.arange(n_global, device=device) // num_gen
        local = slice(rank * b, (rank + 1) * b)
        timings: dict[str, float] = {"judge": v.seconds}

        t0 = time.perf_counter()
        rewards = self._global_rewards(device)
        if args.rtt_response_advantage == "grpo" and self.multi_objective_aggregation == "sum_then_normalize":
            resp_adv = advantages.group_advantages(
                rewards, gid_global, scale_rewards=self.scale_rewards, eps=args.rtt_eps, num_groups=n_global // num_gen
            )[local]
        else:
            resp_adv = out["advantages"].to(device)
        mask = out["completion_mask"].bool()
        if "tool_mask" in out:
            mask = mask & out["tool_mask"].bool()
        s, use, weights = v.arrays.tensors(device)
        coef_w = weights if args.rtt_reward in advantages.WEIGHTED_KINDS else None
        if args.rtt_response_advantage == "gdpo":
            resp_adv = self._gdpo_advantages(s, use, coef_w, num_gen)
        timings["advantage"] = time.perf_counter() - t0

        rel = None
        tok = torch.zeros(mask.shape, dtype=torch.float32, device=device)
        if args.token_term_on:
            t1 = time.perf_counter()
            rel = self.relevance(v, out["completion_ids"], out["completion_mask"])
            timings["discriminator"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            group_stats = args.rtt_token_credit != "paper" or args.rtt_token_norm == "inter"
            if group_stats and nproc > 1 and s.shape[1] < args.max_rubrics:
                pad = args.max_rubrics - s.shape[1]  # equal rubric width on every process for the all-gather
                s = torch.nn.functional.pad(s, (0, pad))
                use = torch.nn.functional.pad(use, (0, pad))
                weights = torch.nn.functional.pad(weights, (0, pad))
                coef_w = weights if coef_w is not None else None
                rel = torch.nn.functional.pad(rel, (0, 0, 0, pad))
            if args.rtt_compat_public_reshape and b % num_gen:
                raise ValueError("rtt_compat_public_reshape needs whole groups on each process")
            coef = advantages.rubric_coefficients(use, coef_w, rel.dtype)
            tok = advantages.token_advantages(
                args.rtt_token_credit,
                s,
                rel,
                mask,
                use,
                coef,
                gid_global[local],
                resp_adv.float(),
                token_norm=args.rtt_token_norm,
                centred_scale=args.rtt_centred_scale,
                weight_cap=args.rtt_weight_cap,
                eps=args.rtt_eps,
                num_groups=n_global // num_gen,
                group_reduce=self._group_reduce,
                compat_public_reshape=args.rtt_compat_public_reshape,
            )
            timings["advantage"] += time.perf_counter() - t2
        if args.token_term_on:
            adv = advantages.combine_advantages(
                resp_adv.float(), tok.float(), alpha=args.rtt_alpha, beta=args.rtt_beta, combine=args.rtt_combine
            )
        else:  # no token term: the response advantage alone, scaled (1.0 * x is x, bit for bit)
            a = args.rtt_alpha if args.rtt_combine == "add" else 1.0 - args.rtt_beta
            adv = (a * resp_adv.float()).unsqueeze(-1).expand(mask.shape).contiguous()

        self._log_rtt(mode, v, rewards, gid_global, resp_adv, tok, adv, mask, rel, s, use)
        self.last_rtt = {
            "rewards": rewards[local].detach(),
            "resp_adv": resp_adv.detach(),
            "tok_adv": tok.detach(),
            "adv": adv.detach(),
            "mask": mask,
            "relevance": rel,
            "verdicts": v,
            "completion_ids": out["completion_ids"].detach(),
            "relevance_sources": dict(self.relevance_sources),
        }
        if mode == "train" and args.heatmap_every and self.accelerator.is_main_process:
            step = self.state.global_step
            if step % args.heatmap_every == 0 and step != self._last_heatmap_step:
                self._last_heatmap_step = step
                self.write_heatmap(inputs, out, v, resp_adv, tok, adv, rel, rewards[local], step)
        return adv, timings

    # -- logging -------------------------------------------------------------------------------------------------
    def _gather_mean(self, metrics: dict[str, float]) -> dict[str, float]:
        if self.accelerator.num_processes == 1:
            return metrics
        from accelerate.utils import gather_object

        return average_dicts(gather_object([metrics]))

    def _log_rtt(self, mode, v, rewards, gid_global, resp_adv, tok, adv, mask, rel, s, use) -> None:
        local = dict(token_metrics(tok, adv, mask))
        local.update(
            verdict_metrics(
                torch.as_tensor(v.arrays.s),
                torch.as_tensor(v.arrays.rubric_mask),
                torch.as_tensor(v.arrays.decided),
                v.arrays.families,
                v.arrays.methods,
            )
        )
        if rel is not None:
            local.update(relevance_metrics(rel, mask, use, v.arrays.families))
            if self.relevance_sources:
                srcs = list(self.relevance_sources.values())
                local["rtt/relevance/from_rules"] = srcs.count("rules") / len(srcs)
        merged = self._gather_mean(local)
        signal = self.accelerator.gather(token_signal(tok, mask).float())
        merged.update(group_signal_metrics(rewards, gid_global, signal > 0))
        for k, val in merged.items():
            self._metrics[mode][k].append(val)
        # the completions table shows one advantage per completion: the token-averaged joint advantage
        mean_adv = (adv * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        all_adv = self.accelerator.gather(mean_adv.detach()).tolist()
        logs = self._logs["advantages"]
        if len(logs) >= len(all_adv):
            for _ in all_adv:
                logs.pop()
            logs.extend(all_adv)

    def _log_times(self, timings: dict[str, float]) -> None:
        mode = "train" if self.model.training else "eval"
        total = timings["trl_generate_and_score"] + timings.get("discriminator", 0.0) + timings.get("advantage", 0.0)
        merged = {f"rtt/time/{k}": val for k, val in timings.items()}
        merged["rtt/time/discriminator_share"] = timings.get("discriminator", 0.0) / total if total else 0.0
        merged["rtt/time/judge_share"] = timings.get("judge", 0.0) / total if total else 0.0
        for k, val in self._gather_mean(merged).items():
            self._metrics[mode][k].append(val)

    def write_heatmap(self, inputs, out, v, resp_adv, tok, adv, rel, rewards, step: int) -> str:
        """Write ``<output_dir>/heatmaps/step_XXXXXX.html`` for the first ``heatmap_count`` local responses."""
        n = min(self.args.heatmap_count, len(v.items))
        ids = out["completion_ids"].cpu()
        lengths = out["completion_mask"].sum(-1).tolist()
        rows = []
        for i in range(n):
            L = int(lengths[i])
            toks = [self._tokenizer.decode([t]) for t in ids[i, :L].tolist()]
            item = v.items[i]
            rubrics = [
                HeatmapRubric(
                    r.text,
                    int(v.arrays.s[i, k]) if v.arrays.decided[i, k] else 0,
                    v.arrays.methods[i][k],
                    relevance_source=self.relevance_sources.get((i, k), ""),
                )
                for k, r in enumerate(item.rubrics)
            ]
            relv = [rel[i, k, :L].tolist() for k in range(len(item.rubrics))] if rel is not None else []
            rows.append(
                HeatmapResponse(
                    prompt=item.instruction,
                    tokens=toks,
                    adv=adv[i, :L].tolist(),
                    tok_adv=tok[i, :L].tolist(),
                    relevance=relv,
                    rubrics=rubrics,
                    reward=float(rewards[i]),
                    resp_adv=float(resp_adv[i]),
                    group=(self.accelerator.process_index * len(inputs) + i) // self.num_generations,
                )
            )
        path = os.path.join(self.args.output_dir, "heatmaps", f"step_{step:06d}.html")
        return write_heatmap(path, rows, title=f"RTT token advantages, step {step}")
