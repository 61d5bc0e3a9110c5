using System.Buffers;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// Adds a position-dependent bias to a block of attention scores [rows, nk] whose first query row is
/// <c>rowStart</c> (counted over the whole sequence); used for decomposed relative positions and attention biases.
/// </summary>
internal delegate void ScoreBias(Span<float> scores, ReadOnlySpan<float> queries, int rowStart, int rows, int nk);

/// <summary>Softmax attention of one head over contiguous [n, d] query/key/value matrices.</summary>
internal static class AttentionMath
{
    private const int RowBlock = 256;

    /// <summary>
    /// out[nq, d] = softmax((queryScale·q)·kᵀ / scoreDivisor + bias)·v. The ViT encoder scales the
    /// queries before the product, the two-way transformer divides the scores after it; keeping the
    /// official order keeps the rounding identical. Rows are processed in blocks to bound memory.
    /// </summary>
    public static void Attend(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        int nq, int nk, int d, float queryScale, float scoreDivisor, ScoreBias? bias = null, int rowOffset = 0)
    {
        int block = Math.Min(RowBlock, nq);
        float[] scores = ArrayPool<float>.Shared.Rent(block * nk);
        float[] qs = ArrayPool<float>.Shared.Rent(block * d);
        try
        {
            for (int r0 = 0; r0 < nq; r0 += block)
            {
                int rows = Math.Min(block, nq - r0);
                ReadOnlySpan<float> qBlock = q.Slice(r0 * d, rows * d);
                Span<float> s = scores.AsSpan(0, rows * nk);
                if (queryScale != 1f)
                {
                    Span<float> scaled = qs.AsSpan(0, rows * d);
                    for (int i = 0; i < scaled.Length; i++) scaled[i] = qBlock[i] * queryScale;
                    Gemm.MatMul(scaled, k, s, rows, d, nk, bTransposed: true);
                }
                else Gemm.MatMul(qBlock, k, s, rows, d, nk, bTransposed: true);
                if (scoreDivisor != 1f)
                    for (int i = 0; i < s.Length; i++) s[i] /= scoreDivisor;
                bias?.Invoke(s, qBlock, rowOffset + r0, rows, nk);
                Normalization.Softmax(s, rows, nk);
                Gemm.MatMul(s, v, output.Slice(r0 * d, rows * d), rows, nk, d);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scores);
            ArrayPool<float>.Shared.Return(qs);
        }
    }

    /// <summary>Copies head <paramref name="head"/> (width d) of rows of [n, stride] into a contiguous [n, d].</summary>
    public static void GatherHead(ReadOnlySpan<float> src, int n, int stride, int offset, int d, Span<float> dst)
    {
        for (int i = 0; i < n; i++) src.Slice(i * stride + offset, d).CopyTo(dst.Slice(i * d, d));
    }

    public static void ScatterHead(ReadOnlySpan<float> src, int n, int stride, int offset, int d, Span<float> dst)
    {
        for (int i = 0; i < n; i++) src.Slice(i * d, d).CopyTo(dst.Slice(i * stride + offset, d));
    }
}
