using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Depthwise convolution on channels-last maps ([H, W, C] in, [OH, OW, C] out), vectorised across
/// channels: every tap is one contiguous load of a channel block, so strides and padding cost nothing
/// but a bounds test per tap, and no plane is copied or transposed. The weight is repacked once into
/// [kh·kw, C] so a tap's weights are contiguous too. Optionally applies exact GELU to the output
/// while it is still in registers (TinyViT follows every depthwise conv but one with GELU).
/// </summary>
public sealed unsafe class DepthwiseConv2dChannelsLast
{
    public int Channels { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int Stride { get; }
    public int Padding { get; }
    /// <summary>[kh·kw, C].</summary>
    private readonly float[] _weight;
    private readonly float[] _bias;

    /// <param name="weight">PyTorch layout [C, 1, kh, kw].</param>
    public DepthwiseConv2dChannelsLast(ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int channels, int kernelH, int kernelW,
        int stride = 1, int padding = 0)
    {
        if (channels <= 0 || kernelH <= 0 || kernelW <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException("Depthwise conv sizes must be positive (padding non-negative).");
        int taps = kernelH * kernelW;
        if (weight.Length != (long)channels * taps) throw new ArgumentException("Depthwise weight has the wrong size.");
        if (!bias.IsEmpty && bias.Length != channels) throw new ArgumentException("Depthwise bias has the wrong size.");
        (Channels, KernelH, KernelW, Stride, Padding) = (channels, kernelH, kernelW, stride, padding);
        _weight = new float[taps * channels];
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < taps; t++) _weight[t * channels + c] = weight[c * taps + t];
        _bias = bias.IsEmpty ? new float[channels] : bias.ToArray();
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - KernelH) / Stride + 1, (w + 2 * Padding - KernelW) / Stride + 1);

    public void Forward(ReadOnlySpan<float> input, int h, int w, Span<float> output, bool gelu = false)
    {
        if (h <= 0 || w <= 0) throw new ArgumentException("Depthwise conv input must be non-empty.");
        var (oh, ow) = OutputSize(h, w);
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"Depthwise conv input {h}x{w} smaller than the kernel.");
        int c = Channels;
        if (input.Length < (long)h * w * c) throw new ArgumentException("Depthwise conv input too small.");
        if (output.Length < (long)oh * ow * c) throw new ArgumentException("Depthwise conv output too small.");
        fixed (float* pin = input) fixed (float* pout = output)
        {
            nint ipIn = (nint)pin, ipOut = (nint)pout;
            // A row is ow·C·taps multiply-adds; keep chunks above ~64k of them.
            int minRows = Math.Max(1, (1 << 16) / Math.Max(1, ow * c * KernelH * KernelW));
            KernelParallel.ForRanges(oh, minRows, (r0, r1) =>
            {
                for (int oy = r0; oy < r1; oy++) Row((float*)ipIn, h, w, (float*)ipOut, oy, ow, gelu);
            });
        }
    }

    /// <summary>
    /// Output rows [oy0, oy1) only, on the calling thread, into <paramref name="output"/> (which holds
    /// just those rows): for callers that run a band's whole chain of kernels on one thread.
    /// </summary>
    public void ForwardRows(ReadOnlySpan<float> input, int h, int w, Span<float> output, int oy0, int oy1, bool gelu = false)
    {
        var (oh, ow) = OutputSize(h, w);
        if (h <= 0 || w <= 0 || oh <= 0 || ow <= 0) throw new ArgumentException($"Depthwise conv input {h}x{w} is empty or smaller than the kernel.");
        if (oy0 < 0 || oy1 > oh || oy0 > oy1) throw new ArgumentOutOfRangeException(nameof(oy0), "Row range outside the output.");
        if (input.Length < (long)h * w * Channels) throw new ArgumentException("Depthwise conv input too small.");
        if (output.Length < (long)(oy1 - oy0) * ow * Channels) throw new ArgumentException("Depthwise conv output too small.");
        fixed (float* pin = input) fixed (float* pout = output)
        {
            // Row() addresses the output by absolute row; shift the base so row oy0 lands at the start.
            float* y = pout - (long)oy0 * ow * Channels;
            for (int oy = oy0; oy < oy1; oy++) Row(pin, h, w, y, oy, ow, gelu);
        }
    }

    private void Row(float* x, int h, int w, float* y, int oy, int ow, bool gelu)
    {
        int c = Channels, kh = KernelH, kw = KernelW, stride = Stride, pad = Padding;
        int ky0 = Math.Max(0, pad - oy * stride), ky1 = Math.Min(kh, h + pad - oy * stride);
        fixed (float* pw = _weight) fixed (float* pb = _bias)
        {
            for (int ox = 0; ox < ow; ox++)
            {
                int ix0 = ox * stride - pad;
                int kx0 = Math.Max(0, -ix0), kx1 = Math.Min(kw, w - ix0);
                float* dst = y + ((long)oy * ow + ox) * c;
                // Input pixel of tap (0, 0); taps outside the map are skipped by the ky/kx ranges.
                float* origin = x + ((long)(oy * stride - pad) * w + ix0) * c;
                int ch = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; ch <= c - 16; ch += 16)
                    {
                        var acc = Vector512.Load(pb + ch);
                        for (int ky = ky0; ky < ky1; ky++)
                        {
                            float* src = origin + (long)ky * w * c + ch;
                            float* wt = pw + ky * kw * c + ch;
                            for (int kx = kx0; kx < kx1; kx++)
                                acc = Vector512.FusedMultiplyAdd(Vector512.Load(src + kx * c), Vector512.Load(wt + kx * c), acc);
                        }
                        if (gelu) acc = Gelu(acc);
                        acc.Store(dst + ch);
                    }
                for (; ch <= c - 8; ch += 8)
                {
                    var acc = Vector256.Load(pb + ch);
                    for (int ky = ky0; ky < ky1; ky++)
                    {
                        float* src = origin + (long)ky * w * c + ch;
                        float* wt = pw + ky * kw * c + ch;
                        for (int kx = kx0; kx < kx1; kx++)
                            acc = Vector256.FusedMultiplyAdd(Vector256.Load(src + kx * c), Vector256.Load(wt + kx * c), acc);
                    }
                    if (gelu) acc = Gelu(acc);
                    acc.Store(dst + ch);
                }
                for (; ch < c; ch++)
                {
                    float acc = pb[ch];
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++)
                            acc = MathF.FusedMultiplyAdd(origin[((long)ky * w + kx) * c + ch], pw[(ky * kw + kx) * c + ch], acc);
                    dst[ch] = gelu ? acc * 0.5f * VectorMath.OnePlusErf(acc * InvSqrt2) : acc;
                }
            }
        }
    }

    private const float InvSqrt2 = 0.70710678118654752440f;

    private static Vector512<float> Gelu(Vector512<float> v) =>
        v * Vector512.Create(0.5f) * VectorMath.OnePlusErf(v * Vector512.Create(InvSqrt2));

    private static Vector256<float> Gelu(Vector256<float> v) =>
        v * Vector256.Create(0.5f) * VectorMath.OnePlusErf(v * Vector256.Create(InvSqrt2));
}
