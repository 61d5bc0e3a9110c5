using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Normalisations in float32 with two-pass mean/variance (as PyTorch's CPU kernels), vectorised and
/// split across threads over rows (or pixel ranges for LayerNorm2d) when large.
/// </summary>
public static unsafe class Normalization
{
    private const int ParallelGrain = 1 << 15;

    /// <summary>LayerNorm over the last dimension of [rows, dim], in place (biased variance, as PyTorch).</summary>
    public static void LayerNorm(Span<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        if (rows < 0 || dim <= 0) throw new ArgumentException("LayerNorm needs rows ≥ 0 and dim > 0.");
        if (x.Length < (long)rows * dim) throw new ArgumentException("LayerNorm input too small.");
        if (weight.Length < dim || bias.Length < dim) throw new ArgumentException("LayerNorm affine parameters too small.");
        fixed (float* px = x) fixed (float* pw = weight) fixed (float* pb = bias)
        {
            nint ix = (nint)px, iw = (nint)pw, ib = (nint)pb;
            ForRows(rows, dim, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++) LayerNormRow((float*)ix + (long)r * dim, dim, (float*)iw, (float*)ib, eps);
            });
        }
    }

    private static void LayerNormRow(float* row, int n, float* w, float* b, float eps)
    {
        float mean = Sum(row, n) / n;
        float var = SumSquaredDeviation(row, n, mean) / n;
        float rstd = 1f / MathF.Sqrt(var + eps);
        int i = 0;
        var vm = Vector256.Create(mean);
        var vr = Vector256.Create(rstd);
        for (; i <= n - 8; i += 8)
        {
            var y = (Vector256.Load(row + i) - vm) * vr;
            Vector256.FusedMultiplyAdd(y, Vector256.Load(w + i), Vector256.Load(b + i)).Store(row + i);
        }
        for (; i < n; i++) row[i] = MathF.FusedMultiplyAdd((row[i] - mean) * rstd, w[i], b[i]);
    }

    private static float Sum(float* p, int n)
    {
        int i = 0;
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        for (; i <= n - 16; i += 16)
        {
            a0 += Vector256.Load(p + i);
            a1 += Vector256.Load(p + i + 8);
        }
        for (; i <= n - 8; i += 8) a0 += Vector256.Load(p + i);
        float s = Vector256.Sum(a0 + a1);
        for (; i < n; i++) s += p[i];
        return s;
    }

    private static float SumSquaredDeviation(float* p, int n, float mean)
    {
        int i = 0;
        var vm = Vector256.Create(mean);
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        for (; i <= n - 16; i += 16)
        {
            var d0 = Vector256.Load(p + i) - vm;
            var d1 = Vector256.Load(p + i + 8) - vm;
            a0 = Vector256.FusedMultiplyAdd(d0, d0, a0);
            a1 = Vector256.FusedMultiplyAdd(d1, d1, a1);
        }
        for (; i <= n - 8; i += 8)
        {
            var d = Vector256.Load(p + i) - vm;
            a0 = Vector256.FusedMultiplyAdd(d, d, a0);
        }
        float s = Vector256.Sum(a0 + a1);
        for (; i < n; i++) { float d = p[i] - mean; s += d * d; }
        return s;
    }

    /// <summary>SAM's LayerNorm2d: normalise each pixel over channels of a [C, H·W] map, in place.</summary>
    public static void LayerNorm2d(Span<float> x, int channels, int pixels, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        if (channels <= 0 || pixels < 0) throw new ArgumentException("LayerNorm2d needs channels > 0 and pixels ≥ 0.");
        if (x.Length < (long)channels * pixels) throw new ArgumentException("LayerNorm2d input too small.");
        if (weight.Length < channels || bias.Length < channels) throw new ArgumentException("LayerNorm2d affine parameters too small.");
        const int chunk = 256; // pixels per work item: C x 256 floats stays in L2 across the three passes
        int chunks = (pixels + chunk - 1) / chunk;
        fixed (float* px = x) fixed (float* pw = weight) fixed (float* pb = bias)
        {
            nint ix = (nint)px, iw = (nint)pw, ib = (nint)pb;
            int threads = (long)channels * pixels < 2 * ParallelGrain ? 1 : KernelParallel.MaxThreads;
            KernelParallel.For(chunks, threads, t =>
            {
                int p0 = t * chunk, n = Math.Min(chunk, pixels - p0);
                float* mean = stackalloc float[chunk];
                float* rstd = stackalloc float[chunk];
                Pixels2d((float*)ix + p0, channels, pixels, n, (float*)iw, (float*)ib, eps, mean, rstd);
            });
        }
    }

    private static void Pixels2d(float* x, int channels, int stride, int n, float* w, float* b, float eps, float* mean, float* rstd)
    {
        int vecEnd = n / 8 * 8;
        new Span<float>(mean, n).Clear();
        new Span<float>(rstd, n).Clear();
        for (int c = 0; c < channels; c++)
        {
            float* plane = x + (long)c * stride;
            int i = 0;
            for (; i < vecEnd; i += 8) (Vector256.Load(mean + i) + Vector256.Load(plane + i)).Store(mean + i);
            for (; i < n; i++) mean[i] += plane[i];
        }
        float invC = 1f / channels;
        for (int i = 0; i < n; i++) mean[i] *= invC;
        for (int c = 0; c < channels; c++)
        {
            float* plane = x + (long)c * stride;
            int i = 0;
            for (; i < vecEnd; i += 8)
            {
                var d = Vector256.Load(plane + i) - Vector256.Load(mean + i);
                Vector256.FusedMultiplyAdd(d, d, Vector256.Load(rstd + i)).Store(rstd + i);
            }
            for (; i < n; i++) { float d = plane[i] - mean[i]; rstd[i] += d * d; }
        }
        for (int i = 0; i < n; i++) rstd[i] = 1f / MathF.Sqrt(rstd[i] * invC + eps);
        for (int c = 0; c < channels; c++)
        {
            float* plane = x + (long)c * stride;
            var vw = Vector256.Create(w[c]);
            var vb = Vector256.Create(b[c]);
            int i = 0;
            for (; i < vecEnd; i += 8)
            {
                var y = (Vector256.Load(plane + i) - Vector256.Load(mean + i)) * Vector256.Load(rstd + i);
                Vector256.FusedMultiplyAdd(y, vw, vb).Store(plane + i);
            }
            for (; i < n; i++) plane[i] = MathF.FusedMultiplyAdd((plane[i] - mean[i]) * rstd[i], w[c], b[c]);
        }
    }

    /// <summary>Softmax over each row of [rows, cols], in place.</summary>
    public static void Softmax(Span<float> x, int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException("Softmax needs non-negative sizes.");
        if (x.Length < (long)rows * cols) throw new ArgumentException("Softmax input too small.");
        if (cols == 0) return;
        fixed (float* px = x)
        {
            // Small inputs (a TinyViT window's head) run inline without building the parallel closure.
            if (Serial(rows, cols))
            {
                for (int r = 0; r < rows; r++) SoftmaxRow(px + (long)r * cols, cols);
                return;
            }
            SoftmaxParallel((nint)px, rows, cols);
        }
    }

    /// <summary>Apart from <see cref="Softmax"/>, so the closure over the parameters is only built on this path.</summary>
    private static void SoftmaxParallel(nint ix, int rows, int cols) =>
        ForRows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) SoftmaxRow((float*)ix + (long)r * cols, cols);
        });

    private static void SoftmaxRow(float* row, int n)
    {
        int i = 0;
        var vmax = Vector256.Create(float.NegativeInfinity);
        for (; i <= n - 8; i += 8) vmax = Vector256.Max(vmax, Vector256.Load(row + i));
        float max = float.NegativeInfinity;
        for (int l = 0; l < Vector256<float>.Count; l++) max = MathF.Max(max, vmax[l]);
        for (; i < n; i++) max = MathF.Max(max, row[i]);
        if (float.IsNegativeInfinity(max)) max = 0f; // all -inf: 0/0 = NaN below, as PyTorch gives
        var vm = Vector256.Create(max);
        var acc = Vector256<float>.Zero;
        i = 0;
        for (; i <= n - 8; i += 8)
        {
            var e = VectorMath.Exp(Vector256.Load(row + i) - vm);
            e.Store(row + i);
            acc += e;
        }
        float sum = Vector256.Sum(acc);
        for (; i < n; i++) { float e = VectorMath.Exp(row[i] - max); row[i] = e; sum += e; }
        float inv = 1f / sum;
        var vi = Vector256.Create(inv);
        i = 0;
        for (; i <= n - 8; i += 8) (Vector256.Load(row + i) * vi).Store(row + i);
        for (; i < n; i++) row[i] *= inv;
    }

    private static bool Serial(int rows, int width) => (long)rows * width < 2 * ParallelGrain || KernelParallel.MaxThreads == 1;

    private static void ForRows(int rows, int width, Action<int, int> body)
    {
        if (Serial(rows, width)) body(0, rows);
        else KernelParallel.ForRanges(rows, Math.Max(1, ParallelGrain / width), body);
    }
}
