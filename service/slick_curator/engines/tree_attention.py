"""Tree attention for Llama-family models: one forward pass over prompts of many few-shot
prefixes and over trees of continuations, with no KV cache copied.

`TreeModel` computes the model layer by layer with its own modules (norms, projections,
rotary embedding, MLP) and its own attention. A few-shot prefix is computed once and kept
(`PrefixStore`, across calls); a batch holds prompts of many prefixes and each query attends
to its prefix through a [prefix, member] grid (`Grid`), so no prefix is copied into a row.
Each prompt has one row of its *own* keys and values (`Own`: its tokens after the prefix, then
whatever is appended after them); a query sees the own slots its bias row allows -- the
prompt's tokens and its ancestors in a tree of continuations -- at explicit positions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from slick_curator.engines.hf_decoding import DecodeStats

__all__ = ["Grid", "Own", "PrefixStore", "TreeModel", "supports"]

NEG = float("-inf")
# Few-shot prefixes kept between calls (SmolLM2-135M, 150 tokens: 3.5 MB each in bf16).
MAX_PREFIXES = 256


def supports(model) -> bool:
    """Whether `TreeDecoder` computes this model: Llama's layer layout, full attention."""
    config = model.config
    return (getattr(config, "model_type", None) == "llama"
            and not getattr(config, "sliding_window", None)
            and hasattr(model, "model") and hasattr(model.model, "layers"))

class PrefixStore:
    """Keys and values of few-shot prefixes, computed once, least recently used dropped."""

    def __init__(self, capacity: int = MAX_PREFIXES) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[int, ...], tuple[list[torch.Tensor], list[torch.Tensor]]]
        self.entries = OrderedDict()

    def get(self, key: tuple[int, ...]):
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key, kv) -> None:
        self.entries[key] = kv
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)


@dataclass
class Grid:
    """The prefixes of one batch, [prefix, member] slots for batched attention to them."""

    kt: list[torch.Tensor]  # per layer [C, Hkv, D, P]
    v: list[torch.Tensor]  # per layer [C, Hkv, P, D]
    lengths: torch.Tensor  # [C]
    c_idx: torch.Tensor  # per row
    j_idx: torch.Tensor  # per row
    n_max: int

    def select(self, rows: torch.Tensor) -> Grid:
        """The grid of some rows: only their prefixes, members numbered again."""
        used, c_idx = torch.unique(self.c_idx[rows], return_inverse=True)
        members = [0] * len(used)
        j_idx = []
        for c in c_idx.tolist():
            j_idx.append(members[c])
            members[c] += 1
        kt, v = self.kt, self.v
        if len(used) < self.kt[0].shape[0]:
            kt, v = [t[used] for t in kt], [t[used] for t in v]
        return Grid(kt, v, self.lengths[used], c_idx, torch.tensor(j_idx), max(members))

    def row_bias(self) -> torch.Tensor:
        positions = torch.arange(self.kt[0].shape[-1])
        allowed = positions[None, :] < self.lengths[self.c_idx][:, None]
        return torch.zeros(allowed.shape).masked_fill_(~allowed, NEG)


@dataclass
class Own:
    """Each row's own keys and values ([rows, Hkv, capacity, D] per layer), `fill` slots used,
    and which slots each row's prompt tokens hold."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    fill: int
    prompt_slots: torch.Tensor  # [rows, capacity] bool: the row's own prompt tokens
    jobs: list[int] = field(default_factory=list)

    def reserve(self, extra: int) -> None:
        capacity = self.k[0].shape[2]
        if self.fill + extra <= capacity:
            return
        grow = max(extra, capacity // 2, 16)
        self.k = [torch.cat([t, t.new_zeros(t.shape[0], t.shape[1], grow, t.shape[3])], 2)
                  for t in self.k]
        self.v = [torch.cat([t, t.new_zeros(t.shape[0], t.shape[1], grow, t.shape[3])], 2)
                  for t in self.v]
        self.prompt_slots = torch.cat(
            [self.prompt_slots, self.prompt_slots.new_zeros(self.prompt_slots.shape[0], grow)], 1)

    def select(self, rows: list[int]) -> Own:
        index = torch.tensor(rows)
        return Own([t[index] for t in self.k], [t[index] for t in self.v], self.fill,
                    self.prompt_slots[index], [self.jobs[r] for r in rows])


class TreeModel:
    """One model's forward pass with tree attention; see the module docstring."""

    def __init__(self, model, pad_token_id: int, stats: DecodeStats) -> None:
        self.model = model
        self.stats = stats
        self.pad = pad_token_id
        config = model.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.scale = self.head_dim ** -0.5
        self.dtype = next(model.parameters()).dtype
        self.prefixes = PrefixStore()

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, own: Own,
                 own_bias: torch.Tensor, grid: Grid | None, keep: torch.Tensor) -> torch.Tensor:
        """One pass of `ids` ([rows, T]) appended to `own` at slots fill..fill+T; `own_bias`
        ([rows, T, fill+T], 0 or -inf) says which own slots each query sees; `keep`: the flat
        indices (row * T + t) whose logits come back, [len(keep), vocab]."""
        inner = self.model.model
        rows, width = ids.shape
        own.reserve(width)
        start, end = own.fill, own.fill + width
        hidden = inner.embed_tokens(ids)
        cos, sin = inner.rotary_emb(hidden, positions)
        prefix_bias = grid.row_bias() if grid is not None else None
        for index, layer in enumerate(inner.layers[: self.model.config.num_hidden_layers]):
            attn = layer.self_attn
            h = layer.input_layernorm(hidden)
            q = attn.q_proj(h).view(rows, width, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(rows, width, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(rows, width, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            own.k[index][:, :, start:end] = k
            own.v[index][:, :, start:end] = v
            out = self._attend(index, q, own, end, own_bias, grid, prefix_bias)
            hidden = hidden + attn.o_proj(out.transpose(1, 2).reshape(rows, width, -1))
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        own.fill = end
        flat = hidden.reshape(rows * width, -1)[keep]
        self.stats.forward_calls += 1
        # Logits stay in the model's dtype, as transformers returns them: a sample's draw
        # (`streams.sample_tokens`) takes the top-k of those and only then widens them.
        return self.model.lm_head(inner.norm(flat))

    def _attend(self, layer: int, q: torch.Tensor, own: Own, length: int,
                own_bias: torch.Tensor, grid: Grid | None,
                prefix_bias: torch.Tensor | None) -> torch.Tensor:
        rows, heads, width, dim = q.shape
        groups = heads // self.kv_heads
        gw = groups * width
        qg = q.reshape(rows, self.kv_heads, gw, dim)
        keys, values = own.k[layer][:, :, :length], own.v[layer][:, :, :length]
        scores = torch.matmul(qg, keys.transpose(-1, -2)).float()
        scores = (scores.view(rows, self.kv_heads, groups, width, length)
                  + own_bias[:, None, None]).view(rows, self.kv_heads, gw, length)
        if grid is None:
            probs = torch.softmax(scores * self.scale, -1).to(q.dtype)
            return torch.matmul(probs, values).view(rows, heads, width, dim)
        n_prefixes, prefix_len = grid.kt[layer].shape[0], grid.kt[layer].shape[-1]
        qgrid = qg.new_zeros(n_prefixes, self.kv_heads, grid.n_max, gw, dim)
        qgrid[grid.c_idx, :, grid.j_idx] = qg
        s_pre = torch.matmul(qgrid.view(n_prefixes, self.kv_heads, grid.n_max * gw, dim),
                             grid.kt[layer])
        s_pre = s_pre.view(n_prefixes, self.kv_heads, grid.n_max, gw, prefix_len)
        s_pre = s_pre[grid.c_idx, :, grid.j_idx].float() + prefix_bias[:, None, None, :]
        probs = torch.softmax(torch.cat([s_pre, scores], -1) * self.scale, -1).to(q.dtype)
        out = torch.matmul(probs[..., prefix_len:], values)
        pgrid = probs.new_zeros(n_prefixes, self.kv_heads, grid.n_max, gw, prefix_len)
        pgrid[grid.c_idx, :, grid.j_idx] = probs[..., :prefix_len]
        o_pre = torch.matmul(pgrid.view(n_prefixes, self.kv_heads, grid.n_max * gw, prefix_len),
                             grid.v[layer]).view(n_prefixes, self.kv_heads, grid.n_max, gw, dim)
        out = out + o_pre[grid.c_idx, :, grid.j_idx]
        return out.view(rows, heads, width, dim)

    def empty_own(self, rows: int, capacity: int) -> Own:
        shape = (rows, self.kv_heads, capacity, self.head_dim)
        layers = self.model.config.num_hidden_layers
        return Own([torch.zeros(shape, dtype=self.dtype) for _ in range(layers)],
                    [torch.zeros(shape, dtype=self.dtype) for _ in range(layers)], 0,
                    torch.zeros((rows, capacity), dtype=torch.bool))

    def prefill(self, suffixes: Sequence[list[int]], starts: Sequence[int], grid: Grid | None,
                 capacity: int) -> tuple[Own, torch.Tensor]:
        """Own caches for `suffixes` (left-padded), each at positions from `starts[r]`; the
        logits after each suffix's last token."""
        rows, width = len(suffixes), max(len(s) for s in suffixes)
        own = self.empty_own(rows, max(capacity, width))
        ids = torch.full((rows, width), self.pad, dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        real = torch.zeros((rows, width), dtype=torch.bool)
        for r, suffix in enumerate(suffixes):
            offset = width - len(suffix)
            ids[r, offset:] = torch.tensor(suffix)
            positions[r, offset:] = torch.arange(starts[r], starts[r] + len(suffix))
            real[r, offset:] = True
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        allowed = causal[None] & real[:, None, :]
        allowed |= torch.eye(width, dtype=torch.bool)[None]  # padding sees itself: no NaN
        bias = torch.zeros(allowed.shape).masked_fill_(~allowed, NEG)
        keep = torch.arange(rows) * width + (width - 1)
        logits = self.forward(ids, positions, own, bias, grid, keep)
        own.prompt_slots[:, :width] = real
        self.stats.prefill_tokens += sum(len(s) for s in suffixes)
        return own, logits

    def prefill_sorted(self, suffixes: Sequence[list[int]], starts: Sequence[int], grid: Grid,
                        capacity: int) -> tuple[Own, torch.Tensor]:
        """`_prefill` in passes of suffixes of about one length: one long question would
        otherwise pad every row of the batch to its length. Row r's tokens take its own
        slots 0.. (the padding of its pass before them)."""
        rows = len(suffixes)
        own = self.empty_own(rows, capacity)
        logits: torch.Tensor | None = None
        by_length = sorted(range(rows), key=lambda r: len(suffixes[r]))
        while by_length:
            shortest = len(suffixes[by_length[0]])
            # a pass pads its rows by at most a quarter of the shortest (and 4 tokens)
            take = sum(1 for r in by_length if len(suffixes[r]) <= shortest * 1.25 + 4)
            members, by_length = by_length[:take], by_length[take:]
            index = torch.tensor(members)
            part, part_logits = self.prefill([suffixes[r] for r in members],
                                              [starts[r] for r in members], grid.select(index),
                                              0)
            width = part.fill
            for layer in range(len(own.k)):
                own.k[layer][index, :, :width] = part.k[layer][:, :, :width]
                own.v[layer][index, :, :width] = part.v[layer][:, :, :width]
            own.prompt_slots[index, :width] = part.prompt_slots[:, :width]
            own.fill = max(own.fill, width)
            if logits is None:
                logits = part_logits.new_empty((rows, part_logits.shape[-1]))
            logits[index] = part_logits
        return own, logits  # type: ignore[return-value]

    def prefix_kv(self, keys: list[tuple[int, ...]]) -> None:
        """Compute and store the prefixes of `keys` that are not stored yet."""
        missing = [key for key in dict.fromkeys(keys) if self.prefixes.get(key) is None]
        if () in missing:
            missing.remove(())
            shape = (self.kv_heads, 0, self.head_dim)
            layers = range(self.model.config.num_hidden_layers)
            self.prefixes.put((), ([torch.zeros(shape, dtype=self.dtype) for _ in layers],
                                   [torch.zeros(shape, dtype=self.dtype) for _ in layers]))
        for start in range(0, len(missing), 16):
            batch = missing[start : start + 16]
            own, _ = self.prefill([list(key) for key in batch], [0] * len(batch), None, 0)
            width = own.fill
            for r, key in enumerate(batch):
                lo = width - len(key)
                self.prefixes.put(key, ([t[r, :, lo:width].clone() for t in own.k],
                                        [t[r, :, lo:width].clone() for t in own.v]))

    def grid(self, prefix_keys: list[tuple[int, ...]]) -> Grid:
        distinct = list(dict.fromkeys(prefix_keys))
        where = {key: c for c, key in enumerate(distinct)}
        longest = max(1, *(len(key) for key in distinct))  # one masked slot at least
        members = [0] * len(distinct)
        c_idx, j_idx = [], []
        for key in prefix_keys:
            c = where[key]
            c_idx.append(c)
            j_idx.append(members[c])
            members[c] += 1
        kt, v = [], []
        layers = self.model.config.num_hidden_layers
        for layer in range(layers):
            k_grid = torch.zeros((len(distinct), self.kv_heads, longest, self.head_dim),
                                 dtype=self.dtype)
            v_grid = torch.zeros_like(k_grid)
            for c, key in enumerate(distinct):
                keys, values = self.prefixes.get(key)
                k_grid[c, :, : len(key)] = keys[layer]
                v_grid[c, :, : len(key)] = values[layer]
            kt.append(k_grid.transpose(-1, -2).contiguous())
            v.append(v_grid)
        return Grid(kt, v, torch.tensor([len(key) for key in distinct]),
                     torch.tensor(c_idx), torch.tensor(j_idx), max(members))

    # --- decoding ---------------------------------------------------------------------------

    def step_bias(self, own: Own, width: int, queries: list[list[list[int]]]) -> torch.Tensor:
        """[rows, width, fill + width]: row r's query t sees its prompt tokens and the slots
        `queries[r][t]`; a query past `len(queries[r])` is padding and sees itself only."""
        own.reserve(width)
        rows, length = len(own.jobs), own.fill + width
        prompt = own.prompt_slots[:, :length]
        allowed = prompt[:, None, :].expand(rows, width, length).clone()
        r_idx, t_idx, s_idx = [], [], []
        for r in range(rows):
            lists = queries[r]
            for t in range(width):
                seen = lists[t] if t < len(lists) else None
                if seen is None:  # padding
                    allowed[r, t] = False
                    r_idx.append(r)
                    t_idx.append(t)
                    s_idx.append(own.fill + t)
                    continue
                r_idx += [r] * len(seen)
                t_idx += [t] * len(seen)
                s_idx += seen
        if r_idx:
            allowed[torch.tensor(r_idx), torch.tensor(t_idx), torch.tensor(s_idx)] = True
        return torch.zeros(allowed.shape).masked_fill_(~allowed, NEG)
