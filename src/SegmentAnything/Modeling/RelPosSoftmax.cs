using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// One attention score row of a query at (qy, qx): adds the decomposed relative positions
/// ((s + Rh[qy−ky]) + Rw[qx−kx], the official order) while tracking the row maximum, then the softmax,
/// so the row is read from memory once. 512-bit lanes, since a global row is 64 keys wide per ky.
/// </summary>
internal static unsafe class RelPosSoftmax
{
    public static bool IsSupported => Vector512.IsHardwareAccelerated;

    /// <param name="row">qh·qw scores, in place.</param>
    /// <param name="heightTerms">q·Rh for this query, indexed qy − ky + qh − 1.</param>
    /// <param name="widthTerms">q·Rw already reversed for this query, indexed by kx.</param>
    public static void Apply(float* row, int qh, int qw, int qy, float* heightTerms, float* widthTerms)
    {
        var vmax = Vector512.Create(float.NegativeInfinity);
        float max = float.NegativeInfinity;
        for (int ky = 0; ky < qh; ky++)
        {
            float* seg = row + ky * qw;
            float s = heightTerms[qy - ky + qh - 1];
            var vs = Vector512.Create(s);
            int kx = 0;
            for (; kx <= qw - 16; kx += 16)
            {
                var v = Vector512.Load(seg + kx) + vs + Vector512.Load(widthTerms + kx);
                v.Store(seg + kx);
                vmax = Vector512.Max(vmax, v);
            }
            for (; kx < qw; kx++)
            {
                float v = seg[kx] + s + widthTerms[kx];
                seg[kx] = v;
                max = MathF.Max(max, v);
            }
        }
        for (int l = 0; l < Vector512<float>.Count; l++) max = MathF.Max(max, vmax[l]);
        if (float.IsNegativeInfinity(max)) max = 0f; // all -inf: 0/0 = NaN below, as PyTorch gives

        int n = qh * qw, i = 0;
        var vm = Vector512.Create(max);
        var acc = Vector512<float>.Zero;
        for (; i <= n - 16; i += 16)
        {
            var e = VectorMath.Exp(Vector512.Load(row + i) - vm);
            e.Store(row + i);
            acc += e;
        }
        float sum = Vector512.Sum(acc);
        for (; i < n; i++) { float e = VectorMath.Exp(row[i] - max); row[i] = e; sum += e; }
        var vi = Vector512.Create(1f / sum);
        i = 0;
        for (; i <= n - 16; i += 16) (Vector512.Load(row + i) * vi).Store(row + i);
        float inv = 1f / sum;
        for (; i < n; i++) row[i] *= inv;
    }
}
