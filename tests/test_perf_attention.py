"""Attention implementations chosen for speed compute the same function."""
import pytest
import torch

from tests.helpers.devices import DEVICES

from surgvista_mm.models.utils.transformer import (ATTENTION_IMPLS, QVBiasAttention, attention,
                                                   choose_attention)


def _qkv(seed=0, shape=(2, 3, 17, 8), dtype=torch.float32, device='cpu'):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype).to(device).requires_grad_(True)
            for _ in range(3)]


@pytest.mark.parametrize('device', DEVICES)
def test_implementations_agree_forward_and_backward(device):
    ref_in = _qkv(device=device)
    ref = attention(*ref_in, 8 ** -0.5, impl='math')
    ref.square().sum().backward()
    tol = dict(rtol=1e-5, atol=1e-6) if device == 'cpu' else dict(rtol=1e-4, atol=1e-5)
    for impl in ('sdpa', 'sdpa-math', 'auto'):
        qkv = _qkv(device=device)
        out = attention(*qkv, 8 ** -0.5, impl=impl)
        torch.testing.assert_close(out, ref, **tol)
        out.square().sum().backward()
        for a, b in zip(qkv, ref_in):
            torch.testing.assert_close(a.grad, b.grad, **tol)
    with pytest.raises(ValueError, match='impl'):
        attention(*ref_in, 1.0, impl='flash')


def test_auto_choice_per_device_and_dtype():
    q = torch.zeros(1, 1, 4, 8)
    assert choose_attention(q) == 'sdpa'  # CPU float32: the CPU flash kernel
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert choose_attention(q) == 'math'  # CPU bf16: explicit oneDNN bf16 matmuls
        q16, k16, v16 = _qkv(dtype=torch.bfloat16)
        out = attention(q16, k16, v16, 8 ** -0.5, impl='auto')
    ref = attention(q16.float(), k16.float(), v16.float(), 8 ** -0.5, impl='sdpa')
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0, atol=3e-2)  # bf16 rounding


def test_module_argument():
    assert QVBiasAttention(16, 2, fused_attn=True).attn_impl == 'sdpa'
    assert QVBiasAttention(16, 2, fused_attn=False).attn_impl == 'math'
    for impl in ATTENTION_IMPLS:
        assert QVBiasAttention(16, 2, fused_attn=impl).attn_impl == impl
    with pytest.raises(ValueError, match='fused_attn'):
        QVBiasAttention(16, 2, fused_attn='fast')
    torch.manual_seed(0)
    a = QVBiasAttention(16, 2, fused_attn='auto')
    with torch.no_grad():
        a.q_bias.normal_()
        a.v_bias.normal_()
    b = QVBiasAttention(16, 2, fused_attn='math')
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(a(x), b(x), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not __import__('surgvista_mm.models.utils.linear', fromlist=['x'])
                    .onednn_linear_available(), reason='no oneDNN linear op')
def test_onednn_attention_matches_sdpa_forward_and_backward():
    """Blocked oneDNN attention (flash-style backward) = SDPA, on q/k/v views of one qkv
    tensor (as QVBiasAttention makes them), with a block size that leaves a partial block and
    the expanded gradient of a sum."""
    from surgvista_mm.models.utils.onednn_attention import onednn_attention
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(2, 37, 3, 3, 8, generator=g).permute(2, 0, 3, 1, 4)
    a = [t.clone().requires_grad_(True) for t in qkv.unbind(0)]
    b = [t.clone().requires_grad_(True) for t in qkv.unbind(0)]
    out = onednn_attention(*a, 8 ** -0.5, block=16)
    ref = torch.nn.functional.scaled_dot_product_attention(*b, scale=8 ** -0.5)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    # the caller's transpose(1, 2).reshape(B, N, C) is a view, not a copy
    assert out.transpose(1, 2).is_contiguous()
    out.sum().backward()
    ref.sum().backward()
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(onednn_attention(*a, 8 ** -0.5, block=5), ref,
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='no attention dropout'):
        attention(*a, 8 ** -0.5, dropout_p=0.1, impl='onednn')
    with pytest.raises(ValueError, match='float32 CPU'):
        onednn_attention(*(t.double() for t in a), 1.0)


@pytest.mark.parametrize('vendor, flags, fp32_long, bf16_long', [
    ('AuthenticAMD', {'avx512f', 'avx512_bf16'}, 'onednn', 'math'),  # MKL penalised, no AMX
    ('GenuineIntel', {'avx512f', 'avx512_bf16', 'amx_bf16'}, 'sdpa', 'sdpa'),
    ('GenuineIntel', {'avx512f'}, 'sdpa', 'math'),
])
def test_auto_choice_per_cpu(monkeypatch, vendor, flags, fp32_long, bf16_long):
    """Long sequences: float32 'onednn' only where MKL is penalised; bf16 autocast 'sdpa' (the
    flash kernel on AMX) only on AMX CPUs; short sequences keep 'sdpa' / 'math'."""
    import surgvista_mm.models.utils.linear as linear_mod
    from surgvista_mm.models.utils.transformer import ONEDNN_MIN_TOKENS
    monkeypatch.setattr(linear_mod, 'cpu_info', lambda: (vendor, frozenset(flags)))
    long_q = torch.zeros(1, 1, ONEDNN_MIN_TOKENS, 8)
    short_q = torch.zeros(1, 1, ONEDNN_MIN_TOKENS - 1, 8)
    if fp32_long == 'onednn' and not linear_mod.onednn_linear_available():
        fp32_long = 'sdpa'
    assert choose_attention(long_q) == fp32_long
    assert choose_attention(short_q) == 'sdpa'
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert choose_attention(long_q) == bf16_long
        assert choose_attention(short_q) == 'math'
    with torch.autocast('cpu', dtype=torch.float16):
        assert choose_attention(long_q) == 'math'


def test_auto_picks_onednn_for_long_float32_sequences(monkeypatch):
    import surgvista_mm.models.utils.linear as linear_mod
    from surgvista_mm.models.utils.linear import onednn_linear_available
    from surgvista_mm.models.utils.transformer import ONEDNN_MIN_TOKENS
    monkeypatch.setattr(linear_mod, 'cpu_info', lambda: ('AuthenticAMD', frozenset()))
    long_q = torch.zeros(1, 1, ONEDNN_MIN_TOKENS, 8)
    assert choose_attention(long_q) == ('onednn' if onednn_linear_available() else 'sdpa')
    assert choose_attention(long_q, dropout_p=0.1) == 'sdpa'  # attention dropout: SDPA
    assert choose_attention(long_q.double()) == 'sdpa'
    assert choose_attention(torch.zeros(1, 1, ONEDNN_MIN_TOKENS - 1, 8)) == 'sdpa'
    with torch.no_grad():  # forward only (evaluation, inference): the flash kernel
        assert choose_attention(long_q) == 'sdpa'
    with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert choose_attention(long_q) == 'sdpa'  # also under bf16 autocast
