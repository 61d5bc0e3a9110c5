using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Softmax over many short rows (an image token's scores over a prompt's few tokens, per head), where
/// a per-row vector loop never fills a register: the exponentials run vectorised across row
/// boundaries over the whole contiguous block, and only the cheap max and sum stay per row.
/// Same operations per element as <see cref="Normalization.Softmax"/> on the scaled input.
/// </summary>
public static unsafe class NarrowSoftmax
{
    private const int ParallelGrain = 1 << 15;

    /// <summary>Softmax of x·<paramref name="scale"/> over each row of [rows, cols], in place.</summary>
    public static void Apply(Span<float> x, int rows, int cols, float scale)
    {
        if (rows < 0 || cols <= 0) throw new ArgumentException("Softmax needs positive widths.");
        if (x.Length < (long)rows * cols) throw new ArgumentException("Softmax input too small.");
        fixed (float* px = x)
        {
            nint ip = (nint)px;
            if ((long)rows * cols < 2 * ParallelGrain || KernelParallel.MaxThreads == 1) Rows((float*)ip, 0, rows, cols, scale);
            else KernelParallel.ForRanges(rows, Math.Max(1, ParallelGrain / cols), (r0, r1) => Rows((float*)ip, r0, r1, cols, scale));
        }
    }

    private static void Rows(float* x, int r0, int r1, int cols, float scale)
    {
        float* p = x + (long)r0 * cols;
        int n = (r1 - r0) * cols;
        for (int r = 0; r < r1 - r0; r++)
        {
            float* row = p + (long)r * cols;
            float max = float.NegativeInfinity;
            for (int i = 0; i < cols; i++)
            {
                row[i] *= scale;
                max = MathF.Max(max, row[i]);
            }
            if (float.IsNegativeInfinity(max)) max = 0f; // all -inf: 0/0 = NaN below, as PyTorch gives
            for (int i = 0; i < cols; i++) row[i] -= max;
        }
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; k <= n - 16; k += 16) VectorMath.Exp(Vector512.Load(p + k)).Store(p + k);
        for (; k <= n - 8; k += 8) VectorMath.Exp(Vector256.Load(p + k)).Store(p + k);
        for (; k < n; k++) p[k] = VectorMath.Exp(p[k]);
        for (int r = 0; r < r1 - r0; r++)
        {
            float* row = p + (long)r * cols;
            float sum = 0f;
            for (int i = 0; i < cols; i++) sum += row[i];
            float inv = 1f / sum;
            for (int i = 0; i < cols; i++) row[i] *= inv;
        }
    }
}
