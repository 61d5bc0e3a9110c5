using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SegmentAnything.Kernels;

namespace SegmentAnything.Imaging;

/// <summary>
/// One SAM mask at the original size straight from its low-resolution logits: the upsampling's last
/// (vertical) pass and the threshold in one step, so a row's logits live only in vector registers. Every
/// value is the fused multiply-add <see cref="SamUpsamplePlan.Vertical(float*, float*, float, float, float*, int)"/>
/// computes, compared as <see cref="MaskThresholding"/> compares it, so the booleans are those of
/// thresholding the materialised logits.
/// </summary>
internal static unsafe class SamMaskWriter
{
    /// <summary>Output rows per band: bands re-derive at most two intermediate rows, so they should not be thin.</summary>
    private const int MinBandRows = 64;

    [ThreadStatic] private static SamMaskUpsampler? t_upsampler;

    /// <summary>
    /// Mask <paramref name="index"/> of [count, lowH, lowW] logits upsampled by <paramref name="plan"/>, logit &gt; 0
    /// (≥ 0 when <paramref name="inclusive"/>), into <paramref name="mask"/> [OutH, OutW]. Bands of rows run on all threads.
    /// </summary>
    public static void Write(float[] lowRes, int index, SamUpsamplePlan plan, Span<bool> mask, bool inclusive)
    {
        ArgumentNullException.ThrowIfNull(lowRes);
        long plane = (long)plan.LowH * plan.LowW;
        if (index < 0 || (index + 1) * plane > lowRes.Length)
            throw new ArgumentException($"Mask {index} of [{plan.LowH}, {plan.LowW}] planes is not inside {lowRes.Length} values.");
        int h = plan.OutH, w = plan.OutW;
        if (mask.Length < (long)h * w) throw new ArgumentException($"A mask of {w}x{h} needs {(long)h * w} values, got {mask.Length}.");
        int bands = Math.Clamp(h / MinBandRows, 1, 2 * KernelParallel.MaxThreads);
        fixed (float* src = lowRes)
        fixed (bool* dst = mask)
        {
            nint s = (nint)(src + index * plane), d = (nint)dst;
            if (bands == 1)
            {
                Band(plan, (float*)s, (byte*)d, 0, h, inclusive);
                return;
            }
            KernelParallel.For(bands, bands, band =>
                Band(plan, (float*)s, (byte*)d, (int)((long)h * band / bands), (int)((long)h * (band + 1) / bands), inclusive));
        }
    }

    private static void Band(SamUpsamplePlan plan, float* low, byte* dst, int y0, int y1, bool inclusive)
    {
        var up = t_upsampler ??= new SamMaskUpsampler(plan);
        up.Use(plan);
        up.Begin(low);
        int w = plan.OutW;
        for (int y = y0; y < y1; y++)
        {
            up.Sources(y, 0, plan.Blocks, out float* a, out float* b, out float w0, out float w1);
            Row(a, b, w0, w1, dst + (long)y * w, w, inclusive);
        }
    }

    /// <summary>dst[x] = (a[x]·w0 + b[x]·w1 &gt; 0) (or ≥ 0), the combination rounded as the upsampling rounds it.</summary>
    internal static void Row(float* a, float* b, float w0, float w1, byte* dst, int n, bool inclusive)
    {
        int x = 0, bits = SamUpsamplePlan.VectorBits;
        if (bits >= 512 && Avx512F.IsSupported)
        {
            var v0 = Vector512.Create(w0);
            var v1 = Vector512.Create(w1);
            var one = Vector512.Create(1);
            for (; x <= n - 16; x += 16)
            {
                var v = Vector512.FusedMultiplyAdd(Vector512.Load(a + x), v0, Vector512.Load(b + x) * v1);
                var m = inclusive ? Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero) : Vector512.GreaterThan(v, Vector512<float>.Zero);
                // All-ones lanes and 1 leave 0 or 1 per int, truncated to one byte each.
                Avx512F.ConvertToVector128Byte(m.AsInt32() & one).Store(dst + x);
            }
        }
        if (bits >= 256)
        {
            var v0 = Vector256.Create(w0);
            var v1 = Vector256.Create(w1);
            for (; x <= n - 8; x += 8)
            {
                var v = Vector256.FusedMultiplyAdd(Vector256.Load(a + x), v0, Vector256.Load(b + x) * v1);
                var m = inclusive ? Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero) : Vector256.GreaterThan(v, Vector256<float>.Zero);
                uint bitsSet = m.ExtractMostSignificantBits();
                // Eight lanes' sign bits spread to one byte each (0 or 1): bit i moves to bit 8·i.
                ulong spread = Bmi2.X64.IsSupported ? Bmi2.X64.ParallelBitDeposit(bitsSet, 0x0101010101010101UL) : Spread(bitsSet);
                *(ulong*)(dst + x) = spread;
            }
        }
        for (; x < n; x++)
        {
            float v = MathF.FusedMultiplyAdd(a[x], w0, b[x] * w1);
            dst[x] = (byte)((inclusive ? v >= 0f : v > 0f) ? 1 : 0);
        }
    }

    private static ulong Spread(uint bits)
    {
        ulong r = 0;
        for (int i = 0; i < 8; i++) r |= (ulong)((bits >> i) & 1) << (8 * i);
        return r;
    }
}
