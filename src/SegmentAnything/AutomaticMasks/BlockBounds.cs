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

    /// <summary>Per low row and output word: the range of the word's low-resolution columns in that row.</summary>
    private float[] _min = [], _max = [];
    private bool[] _rowDone = [];

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

    /// <summary>Starts a mask: forgets the per-row bounds of the previous one.</summary>
    public void Begin(SamUpsamplePlan plan)
    {
        int n = plan.LowH * plan.Blocks;
        if (_min.Length < n) (_min, _max) = (new float[n], new float[n]);
        if (_rowDone.Length < plan.LowH) _rowDone = new bool[plan.LowH];
        _rowDone.AsSpan(0, plan.LowH).Clear();
    }

    /// <summary>
    /// Per output word of the rows reading low rows [r0, r1]: −1 when undecided, otherwise the
    /// <see cref="Set"/> / <see cref="AboveHigh"/> / <see cref="AboveLow"/> flags of all its pixels. The
    /// mask threshold is 0; a decided word's range excludes 0, so strict and inclusive masks agree on it.
    /// Values must pass <see cref="CanBound"/>.
    /// </summary>
    public void Classify(float* low, SamUpsamplePlan plan, int r0, int r1, float high, float lowThreshold, sbyte* classes)
    {
        int blocks = plan.Blocks;
        for (int r = r0; r <= r1; r++)
            if (!_rowDone[r]) RowBounds(low + (long)r * plan.LowW, plan, r);
        fixed (float* mn = _min, mx = _max)
            for (int k = 0; k < blocks; k++)
            {
                float a = mn[r0 * blocks + k], b = mx[r0 * blocks + k];
                for (int r = r0 + 1; r <= r1; r++) (a, b) = (MathF.Min(a, mn[r * blocks + k]), MathF.Max(b, mx[r * blocks + k]));
                float margin = MathF.Max(MathF.Abs(a), MathF.Abs(b)) * RelativeMargin + AbsoluteMargin;
                float lower = a - margin, upper = b + margin;
                int flags = 0;
                bool decided = Side(lower, upper, 0f, Set, ref flags) && Side(lower, upper, high, AboveHigh, ref flags) && Side(lower, upper, lowThreshold, AboveLow, ref flags);
                classes[k] = decided ? (sbyte)flags : (sbyte)-1;
            }
    }

    /// <summary>Low row r's range over each output word's low-resolution columns.</summary>
    private void RowBounds(float* row, SamUpsamplePlan plan, int r)
    {
        int blocks = plan.Blocks;
        fixed (float* mn = _min, mx = _max)
            for (int k = 0; k < blocks; k++)
            {
                int c0 = plan.LowColFirst[k], c1 = plan.LowColLast[k];
                float a, b;
                if (c1 - c0 >= 7 && c1 - c0 < 16)
                {
                    // Two overlapping 8-wide loads cover the 8 to 16 columns (upsampling's usual case).
                    var lo = Vector256.Load(row + c0);
                    var hi = Vector256.Load(row + c1 - 7);
                    var vmin = Vector256.Min(lo, hi);
                    var vmax = Vector256.Max(lo, hi);
                    var m4 = Vector128.Min(vmin.GetLower(), vmin.GetUpper());
                    var x4 = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
                    a = MathF.Min(MathF.Min(m4[0], m4[1]), MathF.Min(m4[2], m4[3]));
                    b = MathF.Max(MathF.Max(x4[0], x4[1]), MathF.Max(x4[2], x4[3]));
                }
                else
                {
                    (a, b) = (row[c0], row[c0]);
                    for (int c = c0 + 1; c <= c1; c++) (a, b) = (MathF.Min(a, row[c]), MathF.Max(b, row[c]));
                }
                (mn[r * blocks + k], mx[r * blocks + k]) = (a, b);
            }
        _rowDone[r] = true;
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
