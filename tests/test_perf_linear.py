"""The oneDNN float32 Linear path computes nn.Linear's function, forward and backward."""
import os

import pytest
import torch
from torch import nn

from surgvista_mm.models.utils.linear import (LINEAR_IMPLS, Linear, choose_linear, linear,
                                              onednn_linear_available, set_linear_impl)
from surgvista_mm.models.utils.recompute import Mlp, norm_linear
from tests.helpers.devices import DEVICES

needs_onednn = pytest.mark.skipif(not onednn_linear_available(),
                                  reason='this PyTorch has no oneDNN linear op')


def _uses_onednn(t):
    """Whether ``t``'s autograd graph holds a oneDNN linear node."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if 'OneDnnLinear' in type(fn).__name__:
            return True
        stack.extend(f for f, _ in fn.next_functions)
    return False


def _inputs(shape=(2, 7, 24), out=40, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g).requires_grad_(True)
    w = torch.randn(out, shape[-1], generator=g).requires_grad_(True)
    b = torch.randn(out, generator=g).requires_grad_(True) if bias else None
    return x, w, b


@needs_onednn
@pytest.mark.parametrize('bias', [True, False])
def test_onednn_matches_f_linear_forward_and_backward(bias):
    ref_in = _inputs(bias=bias)
    ref = torch.nn.functional.linear(*ref_in)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    ref.backward(grad)
    got_in = _inputs(bias=bias)
    got = linear(*got_in, impl='onednn')
    assert got.shape == (2, 7, 40)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    got.backward(grad)
    for a, b in zip(got_in, ref_in):
        if b is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)
    # not just F.linear under another name: it ran through oneDNN's op (different rounding is
    # allowed, an identical graph node is not)
    assert _uses_onednn(got) and not _uses_onednn(ref)


@needs_onednn
def test_only_needed_gradients_and_inference_path():
    x, w, b = _inputs()
    x.requires_grad_(False)
    out = linear(x, w, b, impl='onednn')
    out.sum().backward()
    assert x.grad is None and w.grad is not None and b.grad is not None
    torch.testing.assert_close(b.grad, torch.full_like(b, 14.0))  # 2 x 7 tokens
    with torch.no_grad():
        y = linear(x, w, b, impl='onednn')
    assert y.grad_fn is None
    torch.testing.assert_close(y, torch.nn.functional.linear(x, w, b), rtol=1e-5, atol=1e-5)
    empty = linear(torch.zeros(0, 24), w, b, impl='onednn')  # no tokens: F.linear's answer
    assert empty.shape == (0, 40)


@pytest.mark.parametrize('vendor, penalised', [('AuthenticAMD', True), ('GenuineIntel', False),
                                               ('', False)])
def test_auto_choice_per_cpu_vendor(monkeypatch, vendor, penalised):
    """float32 CPU GEMMs go to oneDNN only where MKL runs below its best kernels (AMD)."""
    import surgvista_mm.models.utils.linear as linear_mod
    monkeypatch.setattr(linear_mod, 'cpu_info', lambda: (vendor, frozenset({'avx512f'})))
    assert linear_mod.mkl_penalised_cpu() is penalised
    x, w, _ = _inputs()
    expect = 'onednn' if penalised and onednn_linear_available() else 'torch'
    assert choose_linear(x, w) == expect


def test_cpu_info_reads_this_machine():
    from surgvista_mm.models.utils.linear import cpu_info
    vendor, flags = cpu_info()
    if os.path.exists('/proc/cpuinfo'):
        assert vendor and flags  # e.g. 'GenuineIntel', {'avx2', ...}


def test_auto_choice_per_device_and_dtype():
    x, w, _ = _inputs()
    assert choose_linear(x.double(), w.double()) == 'torch'
    with torch.autocast('cpu', dtype=torch.bfloat16):  # autocast: oneDNN bf16 through F.linear
        assert choose_linear(x, w) == 'torch'
        out = Linear(24, 40)(x)
    assert out.dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match='float32 CPU tensors outside autocast'):
        linear(x.double(), w.double(), impl='onednn')
    with pytest.raises(ValueError, match='linear impl'):
        linear(x, w, impl='mkl')
    with pytest.raises(ValueError, match='linear impl'):
        Linear(3, 4, impl='fast')


def test_modules_keep_nn_linear_layout():
    lin = Linear(24, 40)
    assert isinstance(lin, nn.Linear) and set(lin.state_dict()) == {'weight', 'bias'}
    mlp = Mlp(24, 96)
    assert set(mlp.state_dict()) == {'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'}
    ref = nn.Sequential(nn.Linear(24, 96), nn.GELU(), nn.Linear(96, 24))
    ref[0].load_state_dict(mlp.fc1.state_dict())
    ref[2].load_state_dict(mlp.fc2.state_dict())
    x = torch.randn(3, 5, 24)
    torch.testing.assert_close(mlp(x), ref(x), rtol=1e-5, atol=1e-5)
    assert set_linear_impl(mlp, 'torch') == 2 and mlp.fc1.impl == 'torch'
    assert not _uses_onednn(mlp.fc1(x))
    assert _uses_onednn(Linear(24, 4)(x)) == choose_linear(x, mlp.fc1.weight).startswith('one')
    if onednn_linear_available():
        assert _uses_onednn(Linear(24, 4, impl='onednn')(x))
    with pytest.raises(ValueError):
        set_linear_impl(mlp, 'x')
    assert LINEAR_IMPLS == ('auto', 'torch', 'onednn')


@needs_onednn
def test_backbone_training_step_matches_torch_path():
    """A whole SurgVistaViT forward + backward gives the same loss and gradients either way."""
    from surgvista_mm.models import SurgVistaViT
    torch.manual_seed(0)
    kw = dict(img_size=32, patch_size=16, num_frames=4, embed_dims=48, depth=2, num_heads=3)
    a = SurgVistaViT(**kw, linear_impl='onednn')
    b = SurgVistaViT(**kw, linear_impl='torch')
    b.load_state_dict(a.state_dict())
    clip = torch.randn(2, 3, 4, 32, 32)
    la, lb = a(clip).square().mean(), b(clip).square().mean()
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-6)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-6, msg=name)


def _saved_bytes(fn):
    """Bytes of the distinct storages autograd saves while ``fn()`` runs."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


@pytest.mark.parametrize('impl', ['torch', 'onednn'])
def test_mlp_recomputes_gelu_with_the_same_gradients(impl):
    if impl == 'onednn' and not onednn_linear_available():
        pytest.skip('no oneDNN linear op')
    torch.manual_seed(0)
    mlp = Mlp(24, 96, linear_impl=impl).train()
    ref = nn.Sequential(nn.Linear(24, 96), nn.GELU(), nn.Linear(96, 24)).train()
    ref[0].load_state_dict(mlp.fc1.state_dict())
    ref[2].load_state_dict(mlp.fc2.state_dict())
    x = torch.randn(3, 50, 24, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, fused_bytes = _saved_bytes(lambda: mlp(x))
    out_ref, ref_bytes = _saved_bytes(lambda: ref(x_ref))
    assert '_NormMlp' in type(out.grad_fn.next_functions[0][0]).__name__
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn(out.shape)
    out.backward(g)
    out_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    for a, b in [(mlp.fc1, ref[0]), (mlp.fc2, ref[2])]:
        torch.testing.assert_close(a.weight.grad, b.weight.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.bias.grad, b.bias.grad, rtol=1e-5, atol=1e-5)
    # the [150, 96] GELU output (57.6 kB) is not kept
    assert ref_bytes - fused_bytes == 150 * 96 * 4


def test_mlp_layer_by_layer_with_dropout_autocast_or_no_grad():
    mlp = Mlp(8, 16, drop=0.1).train()
    x = torch.randn(4, 8, requires_grad=True)
    assert mlp._recompute_impl(x) is None  # dropout after the activation needs its mask
    mlp.eval()
    assert mlp._recompute_impl(x) is not None  # eval: dropout is off
    with torch.no_grad():
        assert mlp._recompute_impl(x) is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert mlp._recompute_impl(x) is None
        assert mlp(x).dtype == torch.bfloat16


def _graph_names(t):
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return names


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('impl', ['torch', 'auto'])
def test_block_recomputes_norms_with_the_same_gradients(impl, device):
    """A SurgVistaBlock on the float32 training path (LayerNorm fused into qkv and into the
    MLP, both recomputed in backward) gives the float64 layer-by-layer block's output and
    gradients."""
    from surgvista_mm.models.utils.transformer import SurgVistaBlock
    torch.manual_seed(0)
    block = SurgVistaBlock(24, 3, fused_attn='sdpa', linear_impl=impl).train()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # non-trivial norms and biases
    ref = SurgVistaBlock(24, 3, fused_attn='sdpa', linear_impl='torch').double().train()
    ref.load_state_dict({k: v.double() for k, v in block.state_dict().items()})
    block, ref = block.to(device), ref.to(device)
    x = torch.randn(2, 10, 24, device=device, requires_grad=True)
    x64 = x.detach().double().requires_grad_(True)
    out = block(x)
    out64 = ref(x64)
    names = _graph_names(out)
    assert {'_NormLinearBackward', '_NormMlpBackward'} <= names, names
    assert not {'_NormLinearBackward', '_NormMlpBackward'} & _graph_names(out64)
    torch.testing.assert_close(out.double(), out64, rtol=1e-5, atol=1e-5)
    g = torch.randn(out.shape, device=device)
    out.backward(g)
    out64.backward(g.double())
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-5)
    for (name, p), p64 in zip(block.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad.double(), p64.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_norm_linear_falls_back_outside_the_training_path():
    norm = nn.LayerNorm(8)
    w, b = torch.randn(5, 8, requires_grad=True), torch.zeros(5)
    x = torch.randn(3, 8)
    with torch.no_grad():
        y = norm_linear(x, norm, w, b)
    torch.testing.assert_close(y, torch.nn.functional.linear(norm(x), w, b), rtol=1e-5,
                               atol=1e-5)
    assert '_NormLinearBackward' in _graph_names(norm_linear(x, norm, w, b))
    odd = nn.LayerNorm(8, elementwise_affine=False)  # not fusable: the plain path
    assert '_NormLinearBackward' not in _graph_names(norm_linear(x, odd, w, b))
    # exactly the normalised [3, 8] input is not stored
    _, fused = _saved_bytes(lambda: norm_linear(x, norm, w, b, impl='torch'))
    _, plain = _saved_bytes(lambda: linear(norm(x), w, b, impl='torch'))
    assert plain - fused == 3 * 8 * 4


def test_compiled_graphs_use_f_linear_and_sdpa(monkeypatch):
    """Inside torch.compile, 'auto' keeps to F.linear / SDPA: inductor lowers oneDNN's linear
    op only with constant weights ("weight must be a graph constant" otherwise)."""
    from surgvista_mm.models.utils.transformer import ONEDNN_MIN_TOKENS, choose_attention
    x, w, _ = _inputs()
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    assert choose_linear(x, w) == 'torch'
    assert choose_attention(torch.zeros(1, 1, ONEDNN_MIN_TOKENS, 8)) == 'sdpa'


@needs_onednn
def test_double_backward_raises_instead_of_being_wrong():
    """The oneDNN GEMMs of the custom backward passes have no autograd of their own: a second
    derivative must fail loudly (once_differentiable), not come out wrong."""
    x, w, b = _inputs()
    grad_x, = torch.autograd.grad(linear(x, w, b, 'onednn').square().sum(), x,
                                  create_graph=True)
    with pytest.raises(RuntimeError):
        grad_x.sum().backward()
