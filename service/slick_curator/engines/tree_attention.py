"""Tree attention for Llama-family models: one forward pass over prompts of many few-shot
prefixes and over trees of continuations, with no KV cache copied.

`TreeModel` computes the model layer by layer with its own modules (norms, projections,
rotary embedding, MLP) and its own attention, over the caches of `tree_cache`. A few-shot
prefix is computed once and kept (`PrefixStore`, across calls); a batch holds prompts of many
prefixes (`Grid`) and a pass packs each prefix's queries into one block that attends to it, so
no prefix is copied into a row. Each prompt has one row of its *own* keys and values (`Own`:
its tokens after the prefix, then whatever is appended after them); a query sees the own slots
its bias row allows -- the prompt's tokens and its ancestors in a tree of continuations -- at
explicit positions. Attention runs in C (`tree_kernel`) where it is built for this machine:
each real token against its prefix's keys and its visible own slots, one softmax, no padding;
elsewhere through torch (aten's flash kernel, `few_keys`) on padded blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from slick_curator.engines import tree_kernel, tree_torch
from slick_curator.engines.fused_linear import FusedLinear
from slick_curator.engines.hf_decoding import DecodeStats
from slick_curator.engines.tree_cache import NEG, Grid, Own, PrefixStore
from slick_curator.engines.tree_ops import Packing, rotary

__all__ = ["Segment", "TreeModel", "supports"]

# Bias entries (rows x width x width, fp32) up to which `tree_kernel` prefills a batch's
# suffixes in one pass: QA questions take ~0.5 M; long chat suffixes go by length groups.
ONE_PASS = 16 * 2**20


def supports(model) -> bool:
    """Whether `TreeDecoder` computes this model: Llama's layer layout, full attention."""
    config = model.config
    # CPU only: the tree decoder is built on aten's CPU attention kernel and CPU tensors
    on_cpu = next(model.parameters()).device.type == "cpu"
    return (on_cpu and getattr(config, "model_type", None) == "llama"
            and not getattr(config, "sliding_window", None)
            and not getattr(config, "attention_bias", False)
            and not getattr(config, "mlp_bias", False)
            and hasattr(model, "model") and hasattr(model.model, "layers"))

class _Layer:
    """One decoder layer's modules, its projections fused (`fused_linear`)."""

    def __init__(self, layer) -> None:
        attn, mlp = layer.self_attn, layer.mlp
        self.input_norm, self.post_norm = layer.input_layernorm, layer.post_attention_layernorm
        # the norms as `tree_kernel`'s add_norm takes them
        self.input_norm_args = (self.input_norm.weight, self.input_norm.variance_epsilon)
        self.post_norm_args = (self.post_norm.weight, self.post_norm.variance_epsilon)
        self.qkv = FusedLinear([attn.q_proj, attn.k_proj, attn.v_proj], joins=[2, 1])
        self.o = FusedLinear([attn.o_proj])
        self.gate_up = FusedLinear([mlp.gate_proj, mlp.up_proj])
        self.down = FusedLinear([mlp.down_proj])
        self.act = mlp.act_fn


class Segment(NamedTuple):
    """One batch of a pass, as `TreeModel.forward` takes it."""

    ids: torch.Tensor
    positions: torch.Tensor
    own: Own
    own_bias: torch.Tensor
    grid: Grid | None
    keep: torch.Tensor
    real: torch.Tensor | None = None


class _Inputs(NamedTuple):
    """What a pass computes for one segment before its layers."""

    packing: Packing
    tokens: torch.Tensor
    at: torch.Tensor  # positions of the real tokens
    slot_idx: torch.Tensor
    length: int
    own_bias: torch.Tensor  # the segment's [rows, T, length]: for the C kernel
    masks: tree_torch.Masks | None  # for torch's kernels; None with the C kernel
    keep: torch.Tensor  # among the segment's real tokens


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
        # attention in C (`tree_kernel`) where it is built for this machine and model
        kernel = tree_kernel.load()
        self.kernel = kernel if kernel is not None and kernel.handles(
            self.dtype, self.heads, self.kv_heads, self.head_dim) else None
        layers = model.model.layers[: config.num_hidden_layers]
        self.layers = [_Layer(layer) for layer in layers]
        # a layer's norms, rotary embedding and SiLU(gate) * up in C too (`tree_layer.c`)
        silu = getattr(config, "hidden_act", None) in ("silu", "swish")
        self.layer_steps = self.kernel if self.kernel is not None and silu else None
        self.lm_head = FusedLinear([model.lm_head])

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, own: Own,
                own_bias: torch.Tensor, grid: Grid | None, keep: torch.Tensor,
                real: torch.Tensor | None = None) -> torch.Tensor:
        """One pass of `ids` ([rows, T]): row r's real tokens (`real`, [rows, T] bool; default
        the `keep` positions, as in decoding, where every computed token's logits are read; a
        row's real tokens come first) are appended to its own slots from its fill on.
        `own_bias` ([rows, T, length], 0 or -inf; length = the fullest row's fill after the
        pass) says which own slots each query sees; padding queries are computed by attention
        only, and must see some slot. `keep`: the flat indices (row * T + t) of real tokens
        whose logits come back, [len(keep), vocab]."""
        (logits,) = self.forward_many([Segment(ids, positions, own, own_bias, grid, keep, real)])
        return logits

    def forward_many(self, segments: Sequence[Segment]) -> list[torch.Tensor]:
        """One pass over several batches (`Segment`s: each as `forward` takes it, with caches
        of its own): their tokens go through the products together, and through attention
        batch by batch. A pass reads every weight whatever it computes: two batches of a tree
        level cost one pass, not two."""
        if len({id(segment.own) for segment in segments}) < len(segments):
            raise ValueError("segments of one pass need caches of their own")
        inner = self.model.model
        parts = [self._segment_inputs(segment) for segment in segments]
        tokens = torch.cat([part.tokens for part in parts])
        hidden = inner.embed_tokens(tokens)  # [n, hidden]: projections see real tokens only
        cos, sin = inner.rotary_emb(hidden[None], torch.cat([part.at for part in parts])[None])
        cos, sin = cos[0], sin[0]
        n, heads, kv_heads, dim = len(tokens), self.heads, self.kv_heads, self.head_dim
        blocks: list[dict[str, torch.Tensor]] = [{} for _ in parts]
        bounds = [0]
        for part in parts:
            bounds.append(bounds[-1] + len(part.tokens))
        steps = self.layer_steps
        mlp = None  # with `steps`, the last MLP output: added to hidden by the next norm
        for index, layer in enumerate(self.layers):
            if steps is not None:
                qk, v = layer.qkv(steps.add_norm(hidden, mlp, *layer.input_norm_args))
                qk = steps.rotary_(qk.view(n, heads + kv_heads, dim), cos, sin)
            else:
                qk, v = layer.qkv(layer.input_norm(hidden))
                qk = rotary(qk.view(n, heads + kv_heads, dim), cos, sin)
            q, k = qk[:, :heads], qk[:, heads:]
            v = v.view(n, kv_heads, dim)
            outs = []
            for s, (part, segment) in enumerate(zip(parts, segments, strict=True)):
                a, b = bounds[s], bounds[s + 1]
                own, rows = segment.own, part.packing.row_idx
                if self.kernel is not None:
                    self.kernel.store(k[a:b], v[a:b], own.k[index], own.v[index], rows,
                                      part.slot_idx)
                else:
                    own.k[index][rows, :, part.slot_idx] = k[a:b]
                    own.v[index][rows, :, part.slot_idx] = v[a:b]
                outs.append(self._attend(index, q[a:b], part, own, segment.grid, blocks[s]))
            out = outs[0] if len(outs) == 1 else torch.cat(outs)
            (attended,) = layer.o(out.reshape(n, heads * dim))
            if steps is not None:
                normed = steps.add_norm(hidden, attended, *layer.post_norm_args)
                gate, up = layer.gate_up(normed)
                (mlp,) = layer.down(steps.silu_mul(gate, up))
            else:
                hidden = hidden + attended
                gate, up = layer.gate_up(layer.post_norm(hidden))
                (mlp,) = layer.down(layer.act(gate) * up)
                hidden = hidden + mlp
        if steps is not None:
            hidden = hidden + mlp
        self.stats.forward_calls += 1
        keep = torch.cat([part.keep + bounds[s] for s, part in enumerate(parts)])
        # Logits stay in the model's dtype, as transformers returns them: a sample's draw
        # (`streams.sample_tokens`) takes the top-k of those and only then widens them.
        (logits,) = self.lm_head(inner.norm(hidden[keep]))
        sizes = [len(part.keep) for part in parts]
        return list(logits.split(sizes)) if len(parts) > 1 else [logits]

    def _segment_inputs(self, segment: Segment) -> _Inputs:
        """A segment's real tokens, where their keys go, and its attention masks; its rows'
        fills move past the pass."""
        ids, positions, own, grid, keep = (segment.ids, segment.positions, segment.own,
                                           segment.grid, segment.keep)
        rows, width = ids.shape
        real = segment.real
        if real is None:
            real = torch.zeros((rows, width), dtype=torch.bool)
            real.view(-1)[keep] = True
        own.reserve(width)
        packing = Packing(real.reshape(-1).nonzero().squeeze(1), rows, width, grid,
                          ranks=self.kernel is None)
        flat, row_idx = packing.flat, packing.row_idx
        # where each real token's key and value go: its row, the row's fill + its column
        fills = torch.tensor(own.fills, dtype=torch.long)
        slot_idx = fills[row_idx] + packing.col_idx
        own.fills = (fills + real.sum(1)).tolist()
        length = own.fill
        tokens = ids.reshape(-1) if packing.all_real else ids.reshape(-1)[flat]
        at = positions.reshape(-1) if packing.all_real else positions.reshape(-1)[flat]
        masks = None
        if self.kernel is None:
            masks = tree_torch.masks(segment.own_bias, grid, length, self.dtype,
                                     self.heads // self.kv_heads)
        if not packing.all_real:  # keep's flat indices, among the real tokens
            packed = torch.full((rows * width,), -1, dtype=torch.long)
            packed[flat] = torch.arange(len(flat))
            keep = packed[keep]
            if bool((keep < 0).any()):
                raise ValueError("keep names a padding position")
        return _Inputs(packing, tokens, at, slot_idx, length, segment.own_bias, masks, keep)

    def _attend(self, layer: int, q: torch.Tensor, part: _Inputs, own: Own, grid: Grid | None,
                blocks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each real token's attention ([n, heads, dim], `q` likewise) over its prefix and the
        own slots it sees: `tree_kernel`, else torch's kernels (`tree_torch`)."""
        packing = part.packing
        grid_kv = (grid.k[layer], grid.v[layer]) if grid is not None else None
        if self.kernel is None:
            return tree_torch.attend(q, packing, part.length, part.masks, own.k[layer],
                                     own.v[layer], grid_kv, self.kv_heads, self.scale, blocks)
        prefixes = (*grid_kv, grid.lengths, packing.prefix) if grid is not None else (None,) * 4
        return self.kernel.attend(q, own.k[layer], own.v[layer], part.own_bias, part.length,
                                  packing.row_idx, packing.col_idx, *prefixes, scale=self.scale)

    def cache_tensor(self, shape) -> torch.Tensor:
        """Room for keys or values. Zeroed for torch's kernels, which weigh hidden slots by 0
        (and 0 times a stray NaN is NaN); `tree_kernel` never reads a slot not written."""
        if self.kernel is not None:
            return torch.empty(shape, dtype=self.dtype)
        return torch.zeros(shape, dtype=self.dtype)

    def empty_own(self, rows: int, capacity: int) -> Own:
        shape = (rows, self.kv_heads, capacity, self.head_dim)
        layers = self.model.config.num_hidden_layers
        return Own([self.cache_tensor(shape) for _ in range(layers)],
                   [self.cache_tensor(shape) for _ in range(layers)], [0] * rows,
                    torch.zeros((rows, capacity), dtype=torch.bool))

    def prefill(self, suffixes: Sequence[list[int]], starts: Sequence[int], grid: Grid | None,
                 capacity: int) -> tuple[Own, torch.Tensor]:
        """Own caches for `suffixes`, row r's at slots 0..len-1 and positions from `starts[r]`;
        the logits after each suffix's last token."""
        rows, width = len(suffixes), max(len(s) for s in suffixes)
        own = self.empty_own(rows, max(capacity, width))
        ids = torch.full((rows, width), self.pad, dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        real = torch.zeros((rows, width), dtype=torch.bool)
        for r, suffix in enumerate(suffixes):
            ids[r, : len(suffix)] = torch.tensor(suffix)
            positions[r, : len(suffix)] = torch.arange(starts[r], starts[r] + len(suffix))
            real[r, : len(suffix)] = True
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        allowed = causal[None] & real[:, None, :]
        allowed[:, :, 0] = True  # a query must see some slot (padding sees the first token)
        bias = torch.zeros(allowed.shape).masked_fill_(~allowed, NEG)
        keep = torch.arange(rows) * width + torch.tensor([len(s) - 1 for s in suffixes])
        logits = self.forward(ids, positions, own, bias, grid, keep, real)
        own.prompt_slots[:, :width] = real
        self.stats.prefill_tokens += sum(len(s) for s in suffixes)
        return own, logits

    def prefill_sorted(self, suffixes: Sequence[list[int]], starts: Sequence[int], grid: Grid,
                        capacity: int) -> tuple[Own, torch.Tensor]:
        """`prefill` in passes of suffixes of about one length: one long question would
        otherwise pad every row's attention to its length. `tree_kernel` computes real tokens
        only, whatever the padding: one pass."""
        if self.kernel is not None and len(suffixes) * max(map(len, suffixes)) ** 2 <= ONE_PASS:
            return self.prefill(suffixes, starts, grid, capacity)
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
            for r, fill in zip(members, part.fills, strict=True):
                own.fills[r] = fill
            if logits is None:
                logits = part_logits.new_empty((rows, part_logits.shape[-1]))
            logits[index] = part_logits
        return own, logits  # type: ignore[return-value]

    def prefix_kv(self, keys: list[tuple[int, ...]]) -> dict[tuple[int, ...], tuple]:
        """The keys and values of the prefixes `keys` (per layer), computing and storing those
        the store does not hold. Returned, not only stored: the store may not hold them all."""
        found = {key: self.prefixes.get(key) for key in dict.fromkeys(keys)}
        missing = [key for key, kv in found.items() if kv is None]
        if () in missing:
            missing.remove(())
            shape = (self.kv_heads, 0, self.head_dim)
            layers = range(self.model.config.num_hidden_layers)
            found[()] = ([torch.zeros(shape, dtype=self.dtype) for _ in layers],
                         [torch.zeros(shape, dtype=self.dtype) for _ in layers])
            self.prefixes.put((), found[()])
        for start in range(0, len(missing), 16):
            batch = missing[start : start + 16]
            own, _ = self.prefill([list(key) for key in batch], [0] * len(batch), None, 0)
            for r, key in enumerate(batch):
                found[key] = ([t[r, :, : len(key)].clone() for t in own.k],
                              [t[r, :, : len(key)].clone() for t in own.v])
                self.prefixes.put(key, found[key])
        return found

    def grid(self, prefix_keys: list[tuple[int, ...]], kv: dict[tuple[int, ...], tuple]) -> Grid:
        """The grid of a batch whose row r starts with `prefix_keys[r]` (`kv`: `prefix_kv`'s)."""
        distinct = list(dict.fromkeys(prefix_keys))
        where = {key: c for c, key in enumerate(distinct)}
        longest = max(1, *(len(key) for key in distinct))  # one masked slot at least
        c_idx = [where[key] for key in prefix_keys]
        k, v = [], []
        layers = self.model.config.num_hidden_layers
        for layer in range(layers):
            k_grid = self.cache_tensor((len(distinct), self.kv_heads, longest, self.head_dim))
            v_grid = self.cache_tensor(k_grid.shape)
            for c, key in enumerate(distinct):
                keys, values = kv[key]
                k_grid[c, :, : len(key)] = keys[layer]
                v_grid[c, :, : len(key)] = values[layer]
            k.append(k_grid)
            v.append(v_grid)
        return Grid(k, v, torch.tensor([len(key) for key in distinct]), torch.tensor(c_idx),
                    compact=self.kernel is None)

    # --- decoding ---------------------------------------------------------------------------

    def step_bias(self, own: Own, width: int, queries: list[list[list[int]]]) -> torch.Tensor:
        """[rows, width, length]: row r's query t sees its prompt tokens and the slots
        `queries[r][t]`; a query past `len(queries[r])` is padding and sees slot 0 only.
        length: the fullest row's fill once each row has appended its queries."""
        rows = len(own.jobs)
        length = max(fill + len(q) for fill, q in zip(own.fills, queries, strict=True))
        own.reserve(width)
        prompt = own.prompt_slots[:, :length]
        allowed = prompt[:, None, :].expand(rows, width, length).clone()
        r_idx, t_idx, s_idx = [], [], []
        for r in range(rows):
            lists = queries[r]
            allowed[r, len(lists):] = False
            allowed[r, len(lists):, 0] = True  # padding
            for t, seen in enumerate(lists):
                r_idx += [r] * len(seen)
                t_idx += [t] * len(seen)
                s_idx += seen
        if r_idx:
            allowed[torch.tensor(r_idx), torch.tensor(t_idx), torch.tensor(s_idx)] = True
        return torch.zeros(allowed.shape).masked_fill_(~allowed, NEG)
