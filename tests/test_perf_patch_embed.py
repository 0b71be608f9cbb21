"""The tubelet embedding's GEMM path (CPU autocast) computes the Conv3d's function."""
import torch

from surgvista_mm.models.backbones.surgvista_vit import TubeletEmbed


def _conv_reference(embed: TubeletEmbed, x: torch.Tensor) -> torch.Tensor:
    return embed.proj(x).flatten(2).transpose(1, 2)


def test_gemm_path_matches_conv_in_float64():
    """Exact function: float64 tensors take the GEMM path under CPU autocast (autocast leaves
    float64 alone), so summation order does not show: outputs and weight gradients."""
    torch.manual_seed(0)
    embed = TubeletEmbed(3, 16, 2, (4, 4)).double()
    x = torch.randn(2, 3, 4, 8, 12, dtype=torch.float64)
    with torch.autocast('cpu', dtype=torch.bfloat16), \
            torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = embed(x)
    assert 'aten::convolution' not in {e.key for e in prof.key_averages()}
    out.square().sum().backward()
    grad = embed.proj.weight.grad.clone()
    embed.zero_grad()
    ref = _conv_reference(embed, x)
    ref.square().sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, embed.proj.weight.grad, rtol=1e-12, atol=1e-12)


def test_cpu_autocast_uses_the_gemm_and_matches_conv():
    torch.manual_seed(0)
    embed = TubeletEmbed(3, 32, 2, (8, 8))
    x = torch.randn(2, 3, 4, 16, 24)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref = _conv_reference(embed, x)
    ref.float().square().sum().backward()
    ref_grad = embed.proj.weight.grad.clone()
    embed.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16), \
            torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = embed(x)
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::convolution' not in ops and ('aten::addmm' in ops or 'aten::linear' in ops)
    assert out.shape == (2, 2 * 2 * 3, 32) and out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), rtol=2e-2, atol=2e-2)  # bf16 rounding
    out.float().square().sum().backward()
    torch.testing.assert_close(embed.proj.weight.grad, ref_grad, rtol=5e-2, atol=5e-2)


def test_float32_keeps_the_convolution():
    embed = TubeletEmbed(3, 8, 1, (4, 4))
    x = torch.randn(1, 3, 2, 8, 8)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = embed(x)
    assert 'aten::convolution' in {e.key for e in prof.key_averages()}
    torch.testing.assert_close(out, _conv_reference(embed, x), rtol=0, atol=0)
