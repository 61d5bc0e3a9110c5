using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Softmax down the columns of short row groups: x is [groups·rows, cols] and each column of each group
/// of <c>rows</c> rows is one softmax (attention scores stored transposed, an image token per column and a
/// prompt's few tokens per group of rows). Vectorised across columns, so no horizontal reductions; per
/// element the same operations as <see cref="NarrowSoftmax"/> on the transposed scores.
/// </summary>
public static unsafe class ColumnSoftmax
{
    /// <summary>Softmax of x·<paramref name="scale"/> over each column of each group, in place.</summary>
    public static void Apply(Span<float> x, int groups, int rows, int cols, float scale)
    {
        if (groups < 0 || rows <= 0 || cols < 0) throw new ArgumentException("Column softmax needs positive widths.");
        if (x.Length < (long)groups * rows * cols) throw new ArgumentException("Column softmax input too small.");
        fixed (float* px = x)
            for (int g = 0; g < groups; g++) Group(px + (long)g * rows * cols, px + (long)g * rows * cols, rows, cols, scale);
    }

    /// <summary>As <see cref="Apply(Span{float}, int, int, int, float)"/> reading x from <paramref name="src"/>, so no copy of the scores is made first.</summary>
    public static void Apply(ReadOnlySpan<float> src, Span<float> dst, int groups, int rows, int cols, float scale)
    {
        if (groups < 0 || rows <= 0 || cols < 0) throw new ArgumentException("Column softmax needs positive widths.");
        if (src.Length < (long)groups * rows * cols || dst.Length < (long)groups * rows * cols) throw new ArgumentException("Column softmax input too small.");
        fixed (float* ps = src, pd = dst)
            for (int g = 0; g < groups; g++) Group(ps + (long)g * rows * cols, pd + (long)g * rows * cols, rows, cols, scale);
    }

    private static void Group(float* src, float* p, int rows, int cols, float scale)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(scale);
            for (; j <= cols - 16; j += 16)
            {
                var max = Vector512.Create(float.NegativeInfinity);
                for (int r = 0; r < rows; r++)
                {
                    var v = Vector512.Load(src + (long)r * cols + j) * s;
                    v.Store(p + (long)r * cols + j);
                    max = Vector512.Max(max, v);
                }
                // All -inf: 0/0 = NaN below, as PyTorch gives.
                max = Vector512.ConditionalSelect(Vector512.Equals(max, Vector512.Create(float.NegativeInfinity)), Vector512<float>.Zero, max);
                var sum = Vector512<float>.Zero;
                for (int r = 0; r < rows; r++)
                {
                    var e = VectorMath.Exp(Vector512.Load(p + (long)r * cols + j) - max);
                    e.Store(p + (long)r * cols + j);
                    sum += e;
                }
                var inv = Vector512<float>.One / sum;
                for (int r = 0; r < rows; r++) (Vector512.Load(p + (long)r * cols + j) * inv).Store(p + (long)r * cols + j);
            }
        }
        for (; j < cols; j++)
        {
            float max = float.NegativeInfinity;
            for (int r = 0; r < rows; r++)
            {
                float v = src[(long)r * cols + j] * scale;
                p[(long)r * cols + j] = v;
                max = MathF.Max(max, v);
            }
            if (float.IsNegativeInfinity(max)) max = 0f;
            float sum = 0f;
            for (int r = 0; r < rows; r++)
            {
                float e = VectorMath.Exp(p[(long)r * cols + j] - max);
                p[(long)r * cols + j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            for (int r = 0; r < rows; r++) p[(long)r * cols + j] *= inv;
        }
    }
}
