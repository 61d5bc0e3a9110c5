using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>Symmetric int8 quantisation of float rows: scale = max|x| / 127, q = round-half-even(x / scale).</summary>
public static class Int8Quantize
{
    /// <summary>Quantises one row into <paramref name="q"/> (same length) and returns its scale (1 for an all-zero row).</summary>
    public static float Row(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        if (q.Length < x.Length) throw new ArgumentException("Quantised row too short.");
        float amax = MaxAbs(x);
        if (!(amax > 0) || !float.IsFinite(amax))
        {
            // A non-finite row cannot be represented; zeros keep the product finite rather than poisoning every output.
            q[..x.Length].Clear();
            return amax > 0 ? amax / 127f : 1f;
        }
        float inv = 127f / amax;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vi = Vector256.Create(inv);
            var lo = Vector256.Create(-127f);
            var hi = Vector256.Create(127f);
            for (; i <= x.Length - 32; i += 32)
            {
                var i0 = Vector256.ConvertToInt32(Vector256.Clamp(Vector256.Round(Vector256.Create(x.Slice(i)) * vi), lo, hi));
                var i1 = Vector256.ConvertToInt32(Vector256.Clamp(Vector256.Round(Vector256.Create(x.Slice(i + 8)) * vi), lo, hi));
                var i2 = Vector256.ConvertToInt32(Vector256.Clamp(Vector256.Round(Vector256.Create(x.Slice(i + 16)) * vi), lo, hi));
                var i3 = Vector256.ConvertToInt32(Vector256.Clamp(Vector256.Round(Vector256.Create(x.Slice(i + 24)) * vi), lo, hi));
                Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).CopyTo(q.Slice(i));
            }
        }
        for (; i < x.Length; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(x[i] * inv), -127f, 127f);
        return amax / 127f;
    }

    public static float MaxAbs(ReadOnlySpan<float> x)
    {
        int i = 0;
        float m = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= 8)
        {
            var vm = Vector256<float>.Zero;
            for (; i <= x.Length - 8; i += 8) vm = Vector256.Max(vm, Vector256.Abs(Vector256.Create(x.Slice(i))));
            for (int j = 0; j < 8; j++) m = MathF.Max(m, vm[j]);
        }
        for (; i < x.Length; i++) m = MathF.Max(m, MathF.Abs(x[i]));
        return m;
    }

    /// <summary>Per-output-row weight quantisation of W[n, k]: returns the int8 values and one scale per row.</summary>
    public static (sbyte[] Values, float[] Scales) Weights(ReadOnlySpan<float> w, int n, int k)
    {
        if (w.Length != (long)n * k) throw new ArgumentException("Weight has the wrong size.");
        var values = new sbyte[w.Length];
        var scales = new float[n];
        for (int r = 0; r < n; r++) scales[r] = Row(w.Slice(r * k, k), values.AsSpan(r * k, k));
        return (values, scales);
    }
}
