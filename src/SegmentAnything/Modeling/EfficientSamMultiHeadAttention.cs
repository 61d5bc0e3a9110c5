using System.Buffers;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// A view of a head-interleaved projection: row <c>i</c> of the matrix starts at
/// <c>Offset + i·RowStride</c>, and head <c>h</c> occupies columns <c>h·headDim … (h+1)·headDim</c>.
/// It lets q, k and v live side by side in one fused qkv buffer or in separate ones.
/// </summary>
internal readonly record struct EfficientSamProjection(float[] Data, int RowStride, int Offset);

/// <summary>
/// softmax(q·kᵀ·scale)·v for every head, on projected inputs. Each head is made contiguous once,
/// then query rows go through in blocks (two matrix products and a vectorised softmax per block)
/// so the score matrix never has to be held whole.
/// </summary>
internal static class EfficientSamMultiHeadAttention
{
    private const int QueryBlock = 128;

    /// <param name="output">[nq, heads·headDim], heads recombined as the official code does.</param>
    public static void Run(EfficientSamProjection q, EfficientSamProjection k, EfficientSamProjection v,
        int nq, int nk, int heads, int headDim, float scale, float[] output)
    {
        int width = heads * headDim;
        if (output.Length < nq * width) throw new ArgumentException("Attention output buffer too small.");
        var keysT = new float[heads][];
        var values = new float[heads][];
        for (int h = 0; h < heads; h++)
        {
            // Rented: for the image side (nk in the thousands) these are megabytes per call.
            keysT[h] = ArrayPool<float>.Shared.Rent(headDim * nk);
            values[h] = ArrayPool<float>.Shared.Rent(nk * headDim);
            GatherHead(k, h * headDim, nk, headDim, keysT[h], transpose: true);
            GatherHead(v, h * headDim, nk, headDim, values[h], transpose: false);
        }

        int blocks = (nq + QueryBlock - 1) / QueryBlock;
        int tasks = heads * blocks;
        void RunTask(int t)
        {
            int h = t / blocks, b = t % blocks;
            int r0 = b * QueryBlock, m = Math.Min(QueryBlock, nq - r0);
            float[] qBuf = ArrayPool<float>.Shared.Rent(m * headDim);
            float[] scores = ArrayPool<float>.Shared.Rent(m * nk);
            float[] outBuf = ArrayPool<float>.Shared.Rent(m * headDim);
            try
            {
                for (int i = 0; i < m; i++)
                    q.Data.AsSpan(q.Offset + (r0 + i) * q.RowStride + h * headDim, headDim).CopyTo(qBuf.AsSpan(i * headDim, headDim));
                Gemm.MatMul(qBuf, keysT[h], scores, m, headDim, nk);
                EfficientSamOps.ScaledSoftmaxRows(scores.AsSpan(0, m * nk), m, nk, scale);
                Gemm.MatMul(scores, values[h], outBuf, m, nk, headDim);
                for (int i = 0; i < m; i++)
                    outBuf.AsSpan(i * headDim, headDim).CopyTo(output.AsSpan((r0 + i) * width + h * headDim, headDim));
            }
            finally
            {
                ArrayPool<float>.Shared.Return(qBuf);
                ArrayPool<float>.Shared.Return(scores);
                ArrayPool<float>.Shared.Return(outBuf);
            }
        }

        try
        {
            if (tasks == 1 || (long)nq * nk * headDim < 1 << 18)
                for (int t = 0; t < tasks; t++) RunTask(t);
            else
                KernelParallel.For(tasks, KernelParallel.MaxThreads, RunTask);
        }
        finally
        {
            for (int h = 0; h < heads; h++)
            {
                ArrayPool<float>.Shared.Return(keysT[h]);
                ArrayPool<float>.Shared.Return(values[h]);
            }
        }
    }

    private static void GatherHead(EfficientSamProjection src, int column, int rows, int headDim, float[] dst, bool transpose)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = src.Data.AsSpan(src.Offset + r * src.RowStride + column, headDim);
            if (!transpose) row.CopyTo(dst.AsSpan(r * headDim, headDim));
            else for (int d = 0; d < headDim; d++) dst[d * rows + r] = row[d];
        }
    }
}
