# The PyTorch yardstick for heed's alignment benchmarks: the anchor's transformer (../shared/anchors/
# torch_gpt.py, the same shapes heed benches) with a scalar score head for the reward model (K-way
# ranking loss, then scoring) and a DPO step (sequence log-probs of chosen and rejected responses
# against cached reference log-probs). Prints one JSON line.
#   /usr/bin/python3 bench/torch_align.py ANCHOR_DIR reward|score|dpo CONFIG [--steps N]
import argparse, json, os, statistics, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("anchor"); p.add_argument("mode", choices=["reward", "score", "dpo"]); p.add_argument("config")
p.add_argument("--steps", type=int, default=5); p.add_argument("--rankings", type=int, default=4); p.add_argument("--k", type=int, default=4)
p.add_argument("--pairs", type=int, default=8); p.add_argument("--prompt", type=int, default=64); p.add_argument("--response", type=int, default=64)
a = p.parse_args()
sys.path.insert(0, a.anchor)
import torch_gpt as ref  # noqa: E402

torch.set_num_threads(len(os.sched_getaffinity(0)))
c = dict(ref.CONFIGS[a.config]); torch.manual_seed(0)
m = ref.GPT(c)
T = a.prompt + a.response


def hidden(idx):
    x = m.wte(idx)
    if m.wpe is not None:
        x = x + m.wpe(torch.arange(0, idx.shape[1]))
    for b in m.blocks:
        x = b(x)
    return m.lnf(x)


def timed(step, n, tokens):
    times = []
    for i in range(n + 2):
        t0 = time.perf_counter(); step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    rates = [tokens / t for t in times]
    s = sorted(rates)
    return statistics.median(s), s[0], s[-1], [round(r, 1) for r in rates]


if a.mode in ("reward", "score"):
    score = nn.Linear(c["d"], 1, bias=False)
    R, K = a.rankings, a.k
    ids = torch.randint(0, c["vocab"], (R * K, T))
    opt = torch.optim.AdamW(list(m.parameters()) + list(score.parameters()), lr=1e-5)
    pairs = [(w, l) for w in range(K) for l in range(w + 1, K)]

    def reward_step():
        s = score(hidden(ids)[:, -1]).view(R, K)
        loss = torch.stack([torch.stack([-F.logsigmoid(s[r, w] - s[r, l]) for w, l in pairs]).mean() for r in range(R)]).sum() / R
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    @torch.inference_mode()
    def score_step():
        score(hidden(ids)[:, -1])

    med, lo, hi, samples = timed(reward_step if a.mode == "reward" else score_step, a.steps, R * K * T)
    out = dict(mode=a.mode, tokens_per_s=round(med, 1), min=round(lo, 1), max=round(hi, 1), sequences_per_s=round(med / T, 2), samples=samples)
else:
    P = a.pairs
    ids = torch.randint(0, c["vocab"], (2 * P, T))
    ref_lp = torch.randn(2 * P)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5)

    def dpo_step():
        logits = m.head(hidden(ids)[:, a.prompt - 1:-1])
        lp = torch.gather(F.log_softmax(logits, -1), 2, ids[:, a.prompt:, None]).squeeze(-1).sum(-1)
        h = (lp[:P] - ref_lp[:P]) - (lp[P:] - ref_lp[P:])
        loss = -F.logsigmoid(0.1 * h).mean()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    med, lo, hi, samples = timed(dpo_step, a.steps, 2 * P * T)
    out = dict(mode="dpo", tokens_per_s=round(med, 1), min=round(lo, 1), max=round(hi, 1), samples=samples)
out.update(engine="torch", torch=torch.__version__, config=a.config, threads=torch.get_num_threads())
print(json.dumps(out), flush=True)
