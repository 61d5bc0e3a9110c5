using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// A transformer's residual add, LayerNorm and positional add in one pass over the rows:
/// y = LayerNorm(x + residual), and y + pos beside it. Each row is read once from memory and
/// finished in L1, where three separate passes would stream the whole matrix three times.
/// </summary>
public static unsafe class ResidualLayerNorm
{
    /// <summary>
    /// <paramref name="y"/>[r] = LayerNorm(<paramref name="x"/>[r] + <paramref name="residual"/>[r]) and
    /// <paramref name="yPlusPos"/>[r] = y[r] + <paramref name="pos"/>[r], rows of <paramref name="dim"/>.
    /// <paramref name="y"/> may be <paramref name="residual"/> (updated in place).
    /// </summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> pos, Span<float> y, Span<float> yPlusPos,
        int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps) =>
        Apply(x, residual, pos, y, yPlusPos, rows, dim, weight, bias, eps, default, default);

    /// <summary>
    /// As above, also writing each row's mean and reciprocal standard deviation (the exact values the
    /// normalisation used) when <paramref name="mean"/> and <paramref name="rstd"/> are given (length ≥ rows).
    /// </summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> pos, Span<float> y, Span<float> yPlusPos,
        int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> mean, Span<float> rstd)
    {
        long n = (long)rows * dim;
        if (rows < 0 || dim <= 0) throw new ArgumentException("LayerNorm needs rows ≥ 0 and dim > 0.");
        if (x.Length < n || residual.Length < n || pos.Length < n || y.Length < n || yPlusPos.Length < n)
            throw new ArgumentException("Residual LayerNorm operands too small.");
        if (weight.Length < dim || bias.Length < dim) throw new ArgumentException("LayerNorm affine parameters too small.");
        bool stats = !mean.IsEmpty || !rstd.IsEmpty;
        if (stats && (mean.Length < rows || rstd.Length < rows)) throw new ArgumentException("LayerNorm statistics outputs too small.");
        fixed (float* px = x) fixed (float* pr = residual) fixed (float* pp = pos) fixed (float* py = y) fixed (float* pq = yPlusPos)
        fixed (float* pw = weight) fixed (float* pb = bias)
        {
            for (int r = 0; r < rows; r++)
            {
                long o = (long)r * dim;
                var (m, rs) = Row(px + o, pr + o, pp + o, py + o, pq + o, dim, pw, pb, eps);
                if (stats) (mean[r], rstd[r]) = (m, rs);
            }
        }
    }

    /// <summary>
    /// Only the statistics <see cref="Apply(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Span{float})"/>
    /// would write (bit for bit the same values), for rows whose normalised values nobody reads: no affine or positional pass,
    /// and <paramref name="pos"/> is never streamed. <paramref name="x"/> is overwritten with x + residual.
    /// </summary>
    public static void Statistics(Span<float> x, ReadOnlySpan<float> residual, int rows, int dim, float eps, Span<float> mean, Span<float> rstd)
    {
        long n = (long)rows * dim;
        if (rows < 0 || dim <= 0) throw new ArgumentException("LayerNorm needs rows ≥ 0 and dim > 0.");
        if (x.Length < n || residual.Length < n) throw new ArgumentException("Residual LayerNorm operands too small.");
        if (mean.Length < rows || rstd.Length < rows) throw new ArgumentException("LayerNorm statistics outputs too small.");
        fixed (float* px = x) fixed (float* pr = residual)
        {
            for (int r = 0; r < rows; r++)
            {
                long o = (long)r * dim;
                (mean[r], rstd[r]) = RowStatistics(px + o, pr + o, px + o, dim, eps);
            }
        }
    }

    /// <summary>
    /// The statistics passes shared by <see cref="Row"/> and <see cref="Statistics"/>: y = x + res (y may be x), then
    /// the mean and 1/σ of y, so both give the same bits.
    /// </summary>
    private static (float Mean, float Rstd) RowStatistics(float* x, float* res, float* y, int n, float eps)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n % 16 == 0)
        {
            var acc = Vector512<float>.Zero;
            for (; i < n; i += 16)
            {
                var v = Vector512.Load(x + i) + Vector512.Load(res + i);
                v.Store(y + i);
                acc += v;
            }
            sum = Vector512.Sum(acc);
            float mean = sum / n;
            var vm = Vector512.Create(mean);
            var sq = Vector512<float>.Zero;
            for (i = 0; i < n; i += 16)
            {
                var d = Vector512.Load(y + i) - vm;
                sq = Vector512.FusedMultiplyAdd(d, d, sq);
            }
            return (mean, 1f / MathF.Sqrt(Vector512.Sum(sq) / n + eps));
        }
        for (i = 0; i < n; i++)
        {
            y[i] = x[i] + res[i];
            sum += y[i];
        }
        float m = sum / n, ss = 0;
        for (i = 0; i < n; i++) ss += (y[i] - m) * (y[i] - m);
        return (m, 1f / MathF.Sqrt(ss / n + eps));
    }

    private static (float Mean, float Rstd) Row(float* x, float* res, float* pos, float* y, float* q, int n, float* w, float* b, float eps)
    {
        var (mean, rstd) = RowStatistics(x, res, y, n, eps);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && n % 16 == 0)
        {
            var vm = Vector512.Create(mean);
            var vr = Vector512.Create(rstd);
            for (; i < n; i += 16)
            {
                var t = Vector512.FusedMultiplyAdd((Vector512.Load(y + i) - vm) * vr, Vector512.Load(w + i), Vector512.Load(b + i));
                t.Store(y + i);
                (t + Vector512.Load(pos + i)).Store(q + i);
            }
            return (mean, rstd);
        }
        for (; i < n; i++)
        {
            y[i] = MathF.FusedMultiplyAdd((y[i] - mean) * rstd, w[i], b[i]);
            q[i] = y[i] + pos[i];
        }
        return (mean, rstd);
    }
}
