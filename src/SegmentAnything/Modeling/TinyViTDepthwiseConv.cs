using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Modeling;

/// <summary>
/// Depthwise (groups = channels) square convolution of a planar [C, H, W] map, stride 1 or 2, zero
/// padding. Each channel is zero-padded once into a scratch plane so the inner loop is a branch-free
/// vector multiply-add over output columns; stride 2 first splits the padded plane into its even
/// and odd columns so the loads stay contiguous.
/// </summary>
internal sealed class TinyViTDepthwiseConv
{
    public int Channels { get; }
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    private readonly float[] _weight; // [C, k, k]
    private readonly float[] _bias;   // [C]

    public TinyViTDepthwiseConv(float[] weight, float[] bias, int channels, int kernel, int stride, int padding)
    {
        if (stride is not (1 or 2)) throw new ArgumentException("Depthwise convolution supports stride 1 or 2.");
        if (kernel < 1 || padding < 0) throw new ArgumentException("Invalid depthwise kernel or padding.");
        if (weight.Length != channels * kernel * kernel || bias.Length != channels)
            throw new ArgumentException("Depthwise convolution weights have the wrong size.");
        (Channels, Kernel, Stride, Padding) = (channels, kernel, stride, padding);
        _weight = weight;
        _bias = bias;
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - Kernel) / Stride + 1, (w + 2 * Padding - Kernel) / Stride + 1);

    public float[] Forward(float[] input, int h, int w)
    {
        if (input.Length != Channels * h * w) throw new ArgumentException("Depthwise convolution input has the wrong size.");
        var (oh, ow) = OutputSize(h, w);
        if (oh <= 0 || ow <= 0) throw new ArgumentException("Depthwise convolution input is smaller than its kernel.");
        var output = new float[Channels * oh * ow];
        int hp = h + 2 * Padding, wp = w + 2 * Padding;
        Parallel.For(0, Channels, () => new float[2 * hp * wp], (c, _, scratch) =>
        {
            ChannelForward(input.AsSpan(c * h * w, h * w), h, w, c, output.AsSpan(c * oh * ow, oh * ow), oh, ow, scratch);
            return scratch;
        }, _ => { });
        return output;
    }

    private void ChannelForward(ReadOnlySpan<float> x, int h, int w, int c, Span<float> y, int oh, int ow, float[] scratch)
    {
        int p = Padding, k = Kernel;
        int hp = h + 2 * p, wp = w + 2 * p;
        Span<float> padded = scratch.AsSpan(0, hp * wp);
        padded.Clear();
        for (int r = 0; r < h; r++) x.Slice(r * w, w).CopyTo(padded.Slice((r + p) * wp + p, w));
        ReadOnlySpan<float> wk = _weight.AsSpan(c * k * k, k * k);
        float b = _bias[c];
        if (Stride == 1)
        {
            for (int oy = 0; oy < oh; oy++)
                RowStride1(padded, wp, oy, k, wk, b, y.Slice(oy * ow, ow));
            return;
        }
        // Column 2·ox + kx of a padded row is even[ox + kx/2] for even kx and odd[ox + kx/2] for odd kx.
        int we = (wp + 1) / 2, wo = wp / 2;
        Span<float> even = scratch.AsSpan(hp * wp, hp * we);
        Span<float> odd = scratch.AsSpan(hp * wp + hp * we, hp * wo);
        for (int r = 0; r < hp; r++)
        {
            ReadOnlySpan<float> src = padded.Slice(r * wp, wp);
            Span<float> e = even.Slice(r * we, we), o = odd.Slice(r * wo, wo);
            for (int j = 0; j < wo; j++) { e[j] = src[2 * j]; o[j] = src[2 * j + 1]; }
            if (we > wo) e[we - 1] = src[wp - 1];
        }
        for (int oy = 0; oy < oh; oy++)
            RowStride2(even, we, odd, wo, 2 * oy, k, wk, b, y.Slice(oy * ow, ow));
    }

    private static void RowStride1(ReadOnlySpan<float> padded, int wp, int oy, int k, ReadOnlySpan<float> wk, float b, Span<float> yRow)
    {
        int ow = yRow.Length, vw = Vector<float>.Count;
        ref float src = ref MemoryMarshal.GetReference(padded);
        ref float dst = ref MemoryMarshal.GetReference(yRow);
        if (ow >= vw)
        {
            // The last vector overlaps the previous one instead of a scalar tail; it recomputes equal values.
            for (int ox = 0; ; ox += vw)
            {
                if (ox > ow - vw) ox = ow - vw;
                var acc = new Vector<float>(b);
                for (int ky = 0; ky < k; ky++)
                {
                    int row = (oy + ky) * wp + ox;
                    for (int kx = 0; kx < k; kx++)
                        acc += new Vector<float>(wk[ky * k + kx]) * Load(ref src, row + kx);
                }
                Store(ref dst, ox, acc);
                if (ox == ow - vw) break;
            }
            return;
        }
        for (int ox = 0; ox < ow; ox++)
        {
            float acc = b;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) acc += wk[ky * k + kx] * padded[(oy + ky) * wp + ox + kx];
            yRow[ox] = acc;
        }
    }

    private static void RowStride2(ReadOnlySpan<float> even, int we, ReadOnlySpan<float> odd, int wo, int iy, int k,
        ReadOnlySpan<float> wk, float b, Span<float> yRow)
    {
        int ow = yRow.Length, vw = Vector<float>.Count;
        ref float e = ref MemoryMarshal.GetReference(even);
        ref float o = ref MemoryMarshal.GetReference(odd);
        ref float dst = ref MemoryMarshal.GetReference(yRow);
        if (ow >= vw)
        {
            for (int ox = 0; ; ox += vw)
            {
                if (ox > ow - vw) ox = ow - vw;
                var acc = new Vector<float>(b);
                for (int ky = 0; ky < k; ky++)
                {
                    int re = (iy + ky) * we + ox, ro = (iy + ky) * wo + ox;
                    for (int kx = 0; kx < k; kx++)
                    {
                        var v = (kx & 1) == 0 ? Load(ref e, re + kx / 2) : Load(ref o, ro + kx / 2);
                        acc += new Vector<float>(wk[ky * k + kx]) * v;
                    }
                }
                Store(ref dst, ox, acc);
                if (ox == ow - vw) break;
            }
            return;
        }
        for (int ox = 0; ox < ow; ox++)
        {
            float acc = b;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                {
                    float v = (kx & 1) == 0 ? even[(iy + ky) * we + ox + kx / 2] : odd[(iy + ky) * wo + ox + kx / 2];
                    acc += wk[ky * k + kx] * v;
                }
            yRow[ox] = acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float origin, int offset) =>
        Unsafe.ReadUnaligned<Vector<float>>(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref origin, offset)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float origin, int offset, Vector<float> value) =>
        Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref origin, offset)), value);
}
