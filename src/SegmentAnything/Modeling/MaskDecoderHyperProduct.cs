using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

public sealed partial class MaskDecoder
{
    /// <summary>
    /// masks[t, px] = Σc hyper[t, c] · up[c, px] for the few mask tokens: a product with 1 to 4 rows,
    /// where a general GEMM spends more on packing the [c, pixels] operand than on the arithmetic.
    /// One pass over <paramref name="up"/>, each block of pixels accumulated for every mask at once.
    /// </summary>
    internal static unsafe void HyperProduct(ReadOnlySpan<float> hyper, ReadOnlySpan<float> up, Span<float> masks, int count, int channels, int pixels)
    {
        if (count > 4 || !Vector512.IsHardwareAccelerated || pixels % 16 != 0)
        {
            Gemm.MatMul(hyper, up, masks, count, channels, pixels);
            return;
        }
        if (hyper.Length < count * channels || up.Length < (long)channels * pixels || masks.Length < (long)count * pixels)
            throw new ArgumentException("Hyper-network product operands are too small.");
        FlopCounter.Add(count, pixels, channels);
        fixed (float* ph = hyper, pu = up, pm = masks)
        {
            for (int x = 0; x < pixels; x += 16)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int c = 0; c < channels; c++)
                {
                    var v = Vector512.Load(pu + (long)c * pixels + x);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(ph[c]), v, a0);
                    if (count > 1) a1 = Vector512.FusedMultiplyAdd(Vector512.Create(ph[channels + c]), v, a1);
                    if (count > 2) a2 = Vector512.FusedMultiplyAdd(Vector512.Create(ph[2 * channels + c]), v, a2);
                    if (count > 3) a3 = Vector512.FusedMultiplyAdd(Vector512.Create(ph[3 * channels + c]), v, a3);
                }
                a0.Store(pm + x);
                if (count > 1) a1.Store(pm + pixels + x);
                if (count > 2) a2.Store(pm + 2L * pixels + x);
                if (count > 3) a3.Store(pm + 3L * pixels + x);
            }
        }
    }
}
