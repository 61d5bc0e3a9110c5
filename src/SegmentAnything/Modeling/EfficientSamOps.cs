using System.Numerics;
using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>Small vectorised element-wise helpers shared by the EfficientSAM modules.</summary>
internal static class EfficientSamOps
{
    /// <summary>A new array a + b.</summary>
    public static float[] Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var dst = new float[a.Length];
        Elementwise.Add(a, b, dst);
        return dst;
    }

    /// <summary>
    /// Row-wise softmax of <c>x · scale</c>, in place. The scale is applied before the maximum is
    /// taken, as PyTorch does when the scaled scores are materialised before <c>softmax</c>.
    /// </summary>
    public static void ScaledSoftmaxRows(Span<float> x, int rows, int cols, float scale)
    {
        int w = Vector<float>.Count;
        var vScale = new Vector<float>(scale);
        for (int r = 0; r < rows; r++)
        {
            Span<float> row = x.Slice(r * cols, cols);
            var vrow = MemoryMarshal.Cast<float, Vector<float>>(row);
            int tail = vrow.Length * w;

            var vMax = new Vector<float>(float.NegativeInfinity);
            for (int i = 0; i < vrow.Length; i++)
            {
                var v = vrow[i] * vScale;
                vrow[i] = v;
                vMax = Vector.Max(vMax, v);
            }
            float max = float.NegativeInfinity;
            for (int i = 0; i < w && vrow.Length > 0; i++) max = MathF.Max(max, vMax[i]);
            for (int i = tail; i < cols; i++)
            {
                row[i] *= scale;
                max = MathF.Max(max, row[i]);
            }

            var vM = new Vector<float>(max);
            var vSum = Vector<float>.Zero;
            for (int i = 0; i < vrow.Length; i++)
            {
                var e = Vector.Exp(vrow[i] - vM);
                vrow[i] = e;
                vSum += e;
            }
            float sum = Vector.Sum(vSum);
            for (int i = tail; i < cols; i++)
            {
                row[i] = MathF.Exp(row[i] - max);
                sum += row[i];
            }

            float inv = 1f / sum;
            var vInv = new Vector<float>(inv);
            for (int i = 0; i < vrow.Length; i++) vrow[i] *= vInv;
            for (int i = tail; i < cols; i++) row[i] *= inv;
        }
    }

    /// <summary>Transposes a row-major [rows, cols] matrix into [cols, rows], in cache-friendly tiles.</summary>
    public static void Transpose(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols)
    {
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(rows, r0 + Tile);
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
            }
        }
    }

    public static float[] Transpose(ReadOnlySpan<float> src, int rows, int cols)
    {
        var dst = new float[rows * cols];
        Transpose(src, dst, rows, cols);
        return dst;
    }

    /// <summary>Σ(x − shift)², in double over float blocks.</summary>
    public static double SumSquaredDeviations(ReadOnlySpan<float> x, float shift)
    {
        const int Block = 256;
        double total = 0;
        var vShift = new Vector<float>(shift);
        for (int start = 0; start < x.Length; start += Block)
        {
            ReadOnlySpan<float> block = x.Slice(start, Math.Min(Block, x.Length - start));
            var vb = MemoryMarshal.Cast<float, Vector<float>>(block);
            var q = Vector<float>.Zero;
            foreach (var v in vb) { var d = v - vShift; q += d * d; }
            double bq = Vector.Sum(q);
            for (int i = vb.Length * Vector<float>.Count; i < block.Length; i++) { double d = block[i] - shift; bq += d * d; }
            total += bq;
        }
        return total;
    }

    /// <summary>Σx in double over float blocks (short blocks keep float rounding negligible).</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        const int Block = 256;
        double total = 0;
        for (int start = 0; start < x.Length; start += Block)
        {
            ReadOnlySpan<float> block = x.Slice(start, Math.Min(Block, x.Length - start));
            var vb = MemoryMarshal.Cast<float, Vector<float>>(block);
            var s = Vector<float>.Zero;
            foreach (var v in vb) s += v;
            double bs = Vector.Sum(s);
            for (int i = vb.Length * Vector<float>.Count; i < block.Length; i++) bs += block[i];
            total += bs;
        }
        return total;
    }
}

/// <summary>An <c>nn.LayerNorm</c> over the last dimension, bound by its official name.</summary>
internal sealed class EfficientSamLayerNorm
{
    private readonly float[] _weight, _bias;
    private readonly float _eps;
    public int Dim { get; }

    public EfficientSamLayerNorm(WeightBinder binder, string prefix, int dim, float eps)
    {
        Dim = dim;
        _weight = binder.Take(prefix + ".weight", dim);
        _bias = binder.Take(prefix + ".bias", dim);
        _eps = eps;
    }

    public void Apply(Span<float> x, int rows) => Normalization.LayerNorm(x, rows, Dim, _weight, _bias, _eps);
}
