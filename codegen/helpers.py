"""Small modules the emitted code uses where PyTorch has none; each is copied into the
generated file only when needed, so that the file stands alone.

Where torchvision has the module (``StochasticDepth``, ``LayerNorm2d``, ``Permute``,
``ShiftedWindowAttention``, ``PatchMerging``, ShuffleNetV2's ``channel_shuffle``), the helper
keeps its attribute names, its ``state_dict`` and its forward arithmetic, so that torchvision's
weights load and give the same outputs (tests/test_ops.py checks them against outputs recorded
from torchvision); emitted code never imports torchvision.  Helpers use only ``torch`` and
``nn`` (the names every emitted file imports) and are formatted as ``ruff format`` writes them
at 88 columns.
"""

HELPERS: dict[str, str] = {
    "PatchEmbed": '''class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens: (B, C, H, W) -> (B, H/p * W/p, dim)."""

    def __init__(
        self, in_channels: int, dim: int, patch: int, bias: bool = True
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            in_channels, dim, kernel_size=patch, stride=patch, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, dim)''',
    "MeanShift": '''class MeanShift(nn.Conv2d):
    """Adds ``sign * rgb_range * mean`` per channel: a 1x1 convolution (EDSR, RCAN)."""

    def __init__(
        self, rgb_range: float, mean: tuple[float, float, float], sign: int = -1
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(mean))''',
    "PadChannels": '''class PadChannels(nn.Module):
    """Option A shortcut: subsample by ``stride``, append zero channels (no weights)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))''',
    "Tokens": '''class Tokens(nn.Module):
    """Feature map to tokens: (B, C, H, W) -> (B, H*W, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)''',
    "SelectToken": '''class SelectToken(nn.Module):
    """One token of a sequence: (B, N, D) -> (B, D)."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]''',
    "SelfAttention": '''class SelfAttention(nn.MultiheadAttention):
    """Self-attention with one input, so that it can sit in ``nn.Sequential``; its
    parameters are ``nn.MultiheadAttention``'s (batch first)."""

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]''',
    "StochasticDepth": '''class StochasticDepth(nn.Module):
    """Drops a sample's branch with probability ``p`` while training and scales the
    others by ``1 / (1 - p)`` (``mode="row"``), or the whole batch (``mode="batch"``):
    torchvision's ``StochasticDepth``."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.p < 0.0 or self.p > 1.0:
            raise ValueError(
                f"drop probability has to be between 0 and 1, but got {self.p}"
            )
        if self.mode not in ["batch", "row"]:
            raise ValueError(
                f"mode has to be either 'batch' or 'row', but got {self.mode}"
            )
        if not self.training or self.p == 0.0:
            return input
        survival_rate = 1.0 - self.p
        if self.mode == "row":
            size = [input.shape[0]] + [1] * (input.ndim - 1)
        else:
            size = [1] * input.ndim
        noise = torch.empty(size, dtype=input.dtype, device=input.device)
        noise = noise.bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return input * noise''',
    "LayerNorm2d": '''class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of (B, C, H, W): torchvision's LayerNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(
            x, self.normalized_shape, self.weight, self.bias, self.eps
        )
        x = x.permute(0, 3, 1, 2)
        return x''',
    "Permute": '''class Permute(nn.Module):
    """Permutes the dimensions (batch included): torchvision's ``Permute``."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)''',
    "ChannelShuffle": '''class ChannelShuffle(nn.Module):
    """Interleaves the channels of ``groups`` groups: torchvision's ShuffleNetV2
    ``channel_shuffle`` as a module (``nn.ChannelShuffle`` does not export to ONNX)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batchsize, num_channels, height, width = x.size()
        channels_per_group = num_channels // self.groups
        x = x.view(batchsize, self.groups, channels_per_group, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        x = x.view(batchsize, num_channels, height, width)
        return x''',
    "Chunk": '''class Chunk(nn.Module):
    """Part ``index`` of ``chunks`` equal parts of the channels (``x.chunk``)."""

    def __init__(self, chunks: int, index: int) -> None:
        super().__init__()
        self.chunks = chunks
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.chunks, dim=1)[self.index]''',
    "SliceChannels": '''class SliceChannels(nn.Module):
    """The channels ``start:stop`` of (B, C, H, W)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start = start
        self.stop = stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.stop]''',
    "PatchMerging": '''class PatchMerging(nn.Module):
    """Swin's patch merging on (B, H, W, C): each 2x2 patch to 4C channels (odd sizes
    padded), layer norm, linear to 2C. torchvision's ``PatchMerging``."""

    def __init__(self, dim: int, norm_layer: type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = norm_layer(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W, _ = x.shape[-3:]
        x = nn.functional.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x0 = x[..., 0::2, 0::2, :]  # ... H/2 W/2 C
        x1 = x[..., 1::2, 0::2, :]  # ... H/2 W/2 C
        x2 = x[..., 0::2, 1::2, :]  # ... H/2 W/2 C
        x3 = x[..., 1::2, 1::2, :]  # ... H/2 W/2 C
        x = torch.cat([x0, x1, x2, x3], -1)  # ... H/2 W/2 4*C
        x = self.norm(x)
        x = self.reduction(x)  # ... H/2 W/2 2*C
        return x''',
    "ShiftedWindowAttention": '''class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention within (shifted) windows of (B, H, W, C), with a
    relative position bias; the map is padded to whole windows. torchvision's Swin
    ``ShiftedWindowAttention`` (its forward is ``shifted_window_attention`` below)."""

    def __init__(
        self,
        dim: int,
        window_size: list[int],
        shift_size: list[int],
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(window_size) != 2 or len(shift_size) != 2:
            raise ValueError("window_size and shift_size must be of length 2")
        self.window_size = window_size
        self.shift_size = shift_size
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        # a table of relative position biases: (2*Wh-1) * (2*Ww-1), num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # the pair-wise relative position index of the tokens of a window
        coords_h = torch.arange(window_size[0])
        coords_w = torch.arange(window_size[1])
        coords = torch.stack(torch.meshgrid(coords_h, coords_w, indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.permute(1, 2, 0).contiguous()
        relative_coords[:, :, 0] += window_size[0] - 1  # shift to start from 0
        relative_coords[:, :, 1] += window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * window_size[1] - 1
        relative_position_index = relative_coords.sum(-1).flatten()  # Wh*Ww*Wh*Ww
        self.register_buffer("relative_position_index", relative_position_index)

    def get_relative_position_bias(self) -> torch.Tensor:
        N = self.window_size[0] * self.window_size[1]
        index: torch.Tensor = self.relative_position_index  # type: ignore[assignment]
        relative_position_bias = self.relative_position_bias_table[index]
        relative_position_bias = relative_position_bias.view(N, N, -1)
        return relative_position_bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifted_window_attention(
            x,
            self.qkv.weight,
            self.proj.weight,
            self.get_relative_position_bias(),
            self.window_size,
            self.num_heads,
            shift_size=self.shift_size,
            attention_dropout=self.attention_dropout,
            dropout=self.dropout,
            qkv_bias=self.qkv.bias,
            proj_bias=self.proj.bias,
            training=self.training,
        )

    @staticmethod
    def shifted_window_attention(
        input: torch.Tensor,
        qkv_weight: torch.Tensor,
        proj_weight: torch.Tensor,
        relative_position_bias: torch.Tensor,
        window_size: list[int],
        num_heads: int,
        shift_size: list[int],
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
        qkv_bias: torch.Tensor | None = None,
        proj_bias: torch.Tensor | None = None,
        training: bool = True,
    ) -> torch.Tensor:
        B, H, W, C = input.shape
        # pad feature maps to multiples of window size
        pad_r = (window_size[1] - W % window_size[1]) % window_size[1]
        pad_b = (window_size[0] - H % window_size[0]) % window_size[0]
        x = nn.functional.pad(input, (0, 0, 0, pad_r, 0, pad_b))
        _, pad_H, pad_W, _ = x.shape

        shift_size = shift_size.copy()
        # If window size is larger than feature size, there is no need to shift window
        if window_size[0] >= pad_H:
            shift_size[0] = 0
        if window_size[1] >= pad_W:
            shift_size[1] = 0

        # cyclic shift
        if sum(shift_size) > 0:
            x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))

        # partition windows
        num_windows = (pad_H // window_size[0]) * (pad_W // window_size[1])
        x = x.view(
            B,
            pad_H // window_size[0],
            window_size[0],
            pad_W // window_size[1],
            window_size[1],
            C,
        )
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(
            B * num_windows, window_size[0] * window_size[1], C
        )  # B*nW, Ws*Ws, C

        # multi-head attention
        qkv = nn.functional.linear(x, qkv_weight, qkv_bias)
        qkv = qkv.reshape(x.size(0), x.size(1), 3, num_heads, C // num_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * (C // num_heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1))
        # add relative position bias
        attn = attn + relative_position_bias

        if sum(shift_size) > 0:
            # generate attention mask
            attn_mask = x.new_zeros((pad_H, pad_W))
            h_slices = (
                (0, -window_size[0]),
                (-window_size[0], -shift_size[0]),
                (-shift_size[0], None),
            )
            w_slices = (
                (0, -window_size[1]),
                (-window_size[1], -shift_size[1]),
                (-shift_size[1], None),
            )
            count = 0
            for h in h_slices:
                for w in w_slices:
                    attn_mask[h[0] : h[1], w[0] : w[1]] = count
                    count += 1
            attn_mask = attn_mask.view(
                pad_H // window_size[0],
                window_size[0],
                pad_W // window_size[1],
                window_size[1],
            )
            attn_mask = attn_mask.permute(0, 2, 1, 3).reshape(
                num_windows, window_size[0] * window_size[1]
            )
            attn_mask = attn_mask.unsqueeze(1) - attn_mask.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, -100.0)
            attn_mask = attn_mask.masked_fill(attn_mask == 0, 0.0)
            attn = attn.view(
                x.size(0) // num_windows, num_windows, num_heads, x.size(1), x.size(1)
            )
            attn = attn + attn_mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, num_heads, x.size(1), x.size(1))

        attn = nn.functional.softmax(attn, dim=-1)
        attn = nn.functional.dropout(attn, p=attention_dropout, training=training)

        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
        x = nn.functional.linear(x, proj_weight, proj_bias)
        x = nn.functional.dropout(x, p=dropout, training=training)

        # reverse windows
        x = x.view(
            B,
            pad_H // window_size[0],
            pad_W // window_size[1],
            window_size[0],
            window_size[1],
            C,
        )
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)

        # reverse cyclic shift
        if sum(shift_size) > 0:
            x = torch.roll(x, shifts=(shift_size[0], shift_size[1]), dims=(1, 2))

        # unpad features
        x = x[:, :H, :W, :].contiguous()
        return x''',
    "_make_divisible": '''\
def _make_divisible(v: float, divisor: int = 8, min_value: float | None = None) -> int:
    """torchvision's ``_make_divisible``: ``v`` rounded to a multiple of ``divisor``, at
    least ``min_value`` (default ``divisor``), never more than 10% below ``v``."""
    low = divisor if min_value is None else min_value
    new = max(int(low), int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new''',
}


def register_helper(name: str, source: str) -> None:
    """Add a helper for emitted code (a plugin's module that PyTorch lacks): ``source`` defines
    ``name`` using only ``torch`` and ``nn``; an op names it in ``Emission.helpers``.  Registering
    the same source twice is harmless; another source under a taken name is refused."""
    if not name.isidentifier() or f"class {name}(" not in source:
        raise ValueError(f"helper {name!r} must be an identifier that its source defines as a class")
    if HELPERS.get(name, source) != source:
        raise ValueError(f"a different helper is already registered as {name!r}")
    HELPERS[name] = source
