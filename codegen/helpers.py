"""Small modules the emitted code uses where PyTorch has none; each is copied into the
generated file only when needed, so that the file stands alone."""

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
}
