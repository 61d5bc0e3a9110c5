using System.Runtime.Intrinsics;
using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// Which 64-pixel words of an upsampled row are decided by the low-resolution values alone. Each
/// upsampled value is four chained two-tap interpolations with non-negative weights summing to one (to
/// within rounding) of the low-resolution values it reads, so it lies in their [min, max] widened by a
/// few float32 roundings: at most max(|min|, |max|)·2⁻²⁰ (four stages of three roundings of 2⁻²⁴ each,
/// plus weights summing to 1 ± 2⁻²⁵), taken here with a 16× margin, plus an absolute term for underflow.
/// A word whose widened range lies strictly above or below each threshold is decided.
/// </summary>
internal sealed unsafe class BlockBounds
{
    public const int Set = 1, AboveHigh = 2, AboveLow = 4;

    private const float RelativeMargin = 1f / 65536, AbsoluteMargin = 1e-30f;

    /// <summary>Beyond this magnitude the interpolation might overflow, so nothing is decided in advance.</summary>
    private const float Largest = 1e30f;

    private float[] _min = [], _max = [];

    /// <summary>Whether every value is finite and far from overflow (NaNs and infinities spread through the weights).</summary>
    public static bool CanBound(ReadOnlySpan<float> values)
    {
        var limit = Vector256.Create(Largest);
        int i = 0;
        var ok = Vector256<int>.AllBitsSet;
        fixed (float* p = values)
        {
            for (; i <= values.Length - 8; i += 8)
                ok &= Vector256.LessThan(Vector256.Abs(Vector256.Load(p + i)), limit).AsInt32();
            if (!Vector256.EqualsAll(ok, Vector256<int>.AllBitsSet)) return false;
            for (; i < values.Length; i++)
                if (!(MathF.Abs(p[i]) < Largest)) return false;
        }
        return true;
    }

    /// <summary>
    /// Per output word of the rows reading low rows [r0, r1]: −1 when undecided, otherwise the
    /// <see cref="Set"/> / <see cref="AboveHigh"/> / <see cref="AboveLow"/> flags of all its pixels. The
    /// mask threshold is 0; a decided word's range excludes 0, so strict and inclusive masks agree on it.
    /// </summary>
    public void Classify(float* low, SamUpsamplePlan plan, int r0, int r1, float high, float lowThreshold, sbyte* classes)
    {
        int w = plan.LowW;
        if (_min.Length < w) (_min, _max) = (new float[w], new float[w]);
        fixed (float* mn = _min, mx = _max)
        {
            // Column-wise range over the rows, then per word over its columns.
            int x = 0;
            for (; x <= w - 8; x += 8)
            {
                var a = Vector256.Load(low + (long)r0 * w + x);
                var b = a;
                for (int r = r0 + 1; r <= r1; r++)
                {
                    var v = Vector256.Load(low + (long)r * w + x);
                    a = Vector256.Min(a, v);
                    b = Vector256.Max(b, v);
                }
                a.Store(mn + x);
                b.Store(mx + x);
            }
            for (; x < w; x++)
            {
                float a = low[(long)r0 * w + x], b = a;
                for (int r = r0 + 1; r <= r1; r++) (a, b) = (MathF.Min(a, low[(long)r * w + x]), MathF.Max(b, low[(long)r * w + x]));
                (mn[x], mx[x]) = (a, b);
            }
            for (int k = 0; k < plan.Blocks; k++)
            {
                float a = float.MaxValue, b = float.MinValue;
                for (int c = plan.LowColFirst[k]; c <= plan.LowColLast[k]; c++) (a, b) = (MathF.Min(a, mn[c]), MathF.Max(b, mx[c]));
                float margin = MathF.Max(MathF.Abs(a), MathF.Abs(b)) * RelativeMargin + AbsoluteMargin;
                float lower = a - margin, upper = b + margin;
                int flags = 0;
                bool decided = Side(lower, upper, 0f, Set, ref flags) && Side(lower, upper, high, AboveHigh, ref flags) && Side(lower, upper, lowThreshold, AboveLow, ref flags);
                classes[k] = decided ? (sbyte)flags : (sbyte)-1;
            }
        }
    }

    private static bool Side(float lower, float upper, float threshold, int flag, ref int flags)
    {
        if (lower > threshold)
        {
            flags |= flag;
            return true;
        }
        return upper < threshold;
    }
}
