using System.Buffers;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Dynamic W8A8 matrix product: y[m, n] = x[m, k] · Wᵀ with x quantised per row (token) at run time,
/// exact int32 accumulation, then y = acc · sx[row] · sw[col] (+ bias, or added to y).
/// </summary>
public static unsafe class Int8Gemm
{
    private const int RowsPerTile = 64;
    private const long ParallelThreshold = 1 << 20;

    public static void MatMul(ReadOnlySpan<float> x, int ldx, int m, Int8Matrix w, Span<float> y, int ldy,
        ReadOnlySpan<float> bias = default, bool accumulate = false, Int8Isa? isa = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        Int8Isa use = isa ?? Int8IsaInfo.Best;
        if (!Int8IsaInfo.IsSupported(use)) throw new PlatformNotSupportedException($"{use} is not supported on this CPU.");
        int k = w.K, n = w.N;
        if (m < 0 || ldx < k || ldy < n) throw new ArgumentException("Invalid int8 GEMM strides.");
        if (m == 0 || n == 0) return;
        if (x.Length < (long)(m - 1) * ldx + k) throw new ArgumentException("Int8 GEMM input too small.");
        if (y.Length < (long)(m - 1) * ldy + n) throw new ArgumentException("Int8 GEMM output too small.");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException("Int8 GEMM bias has the wrong size.");
        FlopCounter.Add(m, n, k);
        if (use == Int8Isa.Avx512BW)
        {
            fixed (float* px = x, py = y, pb = bias)
                Int8WideGemm.Run(px, ldx, m, w, py, ldy, bias.IsEmpty ? null : pb, accumulate);
            return;
        }

        int lda = w.KGroups * Int8Matrix.GroupDepth;
        int m4 = (m + Int8MicroKernels.Mr - 1) / Int8MicroKernels.Mr * Int8MicroKernels.Mr;
        sbyte[] aBuf = ArrayPool<sbyte>.Shared.Rent(m4 * lda);
        float[] aScale = ArrayPool<float>.Shared.Rent(m4);
        try
        {
            int threads = (long)m * n * k < ParallelThreshold ? 1 : KernelParallel.MaxThreads;
            int rowBlocks = (m4 + RowsPerTile - 1) / RowsPerTile;
            fixed (float* px = x, py = y, pb = bias)
            fixed (sbyte* pa = aBuf)
            {
                float* xp = px, yp = py, bp = bias.IsEmpty ? null : pb;
                sbyte* ap = pa;
                KernelParallel.For(rowBlocks, threads, blk => QuantizeRows(xp, ldx, m, k, ap, lda, aScale, blk * RowsPerTile, Math.Min(m4, (blk + 1) * RowsPerTile)));
                delegate*<sbyte*, nint, sbyte*, int, int*, void> kernel = use switch
                {
                    Int8Isa.AvxVnni => &Int8MicroKernels.AvxVnniKernel,
                    Int8Isa.Avx2 => &Int8MicroKernels.Avx2Kernel,
                    _ => &Int8MicroKernels.Scalar,
                };
                int panels = w.Panels;
                KernelParallel.For(rowBlocks * panels, threads, tile =>
                {
                    int p = tile % panels, r0 = tile / panels * RowsPerTile;
                    int r1 = Math.Min(m4, r0 + RowsPerTile);
                    int* acc = stackalloc int[Int8MicroKernels.Mr * Int8Matrix.PanelWidth];
                    sbyte* wp = w.Panel(p);
                    for (int r = r0; r < r1; r += Int8MicroKernels.Mr)
                    {
                        kernel(ap + (long)r * lda, lda, wp, w.KGroups, acc);
                        Store(acc, r, m, p, n, aScale, w.Scales, bp, yp, ldy, accumulate);
                    }
                });
            }
        }
        finally
        {
            ArrayPool<sbyte>.Shared.Return(aBuf);
            ArrayPool<float>.Shared.Return(aScale);
        }
    }

    private static void QuantizeRows(float* x, int ldx, int m, int k, sbyte* a, int lda, float[] scales, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            var row = new Span<sbyte>(a + (long)r * lda, lda);
            if (r >= m) { row.Clear(); scales[r] = 0; continue; }
            scales[r] = Int8Quantize.Row(new ReadOnlySpan<float>(x + (long)r * ldx, k), row);
            row[k..].Clear();
        }
    }

    private static void Store(int* acc, int r0, int m, int panel, int n, float[] rowScale, float[] colScale, float* bias, float* y, int ldy, bool accumulate)
    {
        int c0 = panel * Int8Matrix.PanelWidth;
        int width = Math.Min(Int8Matrix.PanelWidth, n - c0);
        for (int i = 0; i < Int8MicroKernels.Mr && r0 + i < m; i++)
        {
            float sx = rowScale[r0 + i];
            float* dst = y + (long)(r0 + i) * ldy + c0;
            int* src = acc + i * Int8Matrix.PanelWidth;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vs = Vector256.Create(sx);
                for (; j <= width - 8; j += 8)
                {
                    var v = Vector256.ConvertToSingle(Vector256.Load(src + j)) * vs * Vector256.Create(colScale.AsSpan(c0 + j));
                    if (accumulate) v += Vector256.Load(dst + j);
                    else if (bias is not null) v += Vector256.Load(bias + c0 + j);
                    v.Store(dst + j);
                }
            }
            for (; j < width; j++)
            {
                float v = src[j] * sx * colScale[c0 + j];
                if (accumulate) v += dst[j];
                else if (bias is not null) v += bias[c0 + j];
                dst[j] = v;
            }
        }
    }
}
