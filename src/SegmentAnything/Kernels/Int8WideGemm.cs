using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>
/// Driver of the AVX-512BW int8 product on the wide int16 layout: each activation row is quantised once
/// into a pooled buffer already in the micro-kernel's panel order (12 rows per panel, k pairs as int32),
/// then tiles of up to 96 rows x a few 32-column weight panels run the 12x32 kernel over the whole depth
/// (int32 sums need no k blocking: a 12x32 tile's A and B panels stream from L2 at a few bytes per cycle),
/// and the store applies row scale x column scale and the bias (or adds to y) in one pass.
/// </summary>
internal static unsafe class Int8WideGemm
{
    private const int Mr = Int8MicroKernels.WideMr, Nr = Int8MicroKernels.WideNr;
    private const int PanelsPerRowBlock = 8;
    private const int MaxPanelsPerTile = 4;
    /// <summary>Below this many multiply-adds the thread hand-off costs more than it saves.</summary>
    private const long ParallelThreshold = 1 << 22;

    public static void Run(float* x, int ldx, int m, Int8Matrix w, float* y, int ldy, float* bias, bool accumulate)
    {
        int k = w.K, n = w.N, kPairs = w.KPairs;
        int aPanels = (m + Mr - 1) / Mr;
        long aInts = (long)aPanels * kPairs * Mr;
        if (aInts > Array.MaxLength) throw new ArgumentException("Int8 GEMM activations too large.");
        int threads = (long)m * n * k < ParallelThreshold ? 1 : KernelParallel.MaxThreads;
        int[] aBuf = ArrayPool<int>.Shared.Rent((int)Math.Max(aInts, 1));
        float[] rowScale = ArrayPool<float>.Shared.Rent(aPanels * Mr);
        try
        {
            fixed (int* pa = aBuf)
            fixed (float* ps = rowScale, pcs = w.Scales)
            {
                int* a = pa;
                float* rs = ps, cs = pcs;
                KernelParallel.For(aPanels, threads, ip => QuantizePanel(x, ldx, m, k, kPairs, a + (long)ip * kPairs * Mr, rs, ip));

                int rowBlocks = (aPanels + PanelsPerRowBlock - 1) / PanelsPerRowBlock;
                int colPanels = w.WidePanels;
                int wanted = threads == 1 ? 1 : 4 * threads;
                int perTile = Math.Clamp(colPanels * rowBlocks / wanted, 1, MaxPanelsPerTile);
                int colTiles = (colPanels + perTile - 1) / perTile;
                w.WidePanel(0); // packs the wide layout once, outside the workers, when it was not the construction layout
                KernelParallel.For(rowBlocks * colTiles, threads, t =>
                {
                    int rb = t / colTiles, ct = t % colTiles;
                    int ip0 = rb * PanelsPerRowBlock, ip1 = Math.Min(aPanels, ip0 + PanelsPerRowBlock);
                    int jp0 = ct * perTile, jp1 = Math.Min(colPanels, jp0 + perTile);
                    int* acc = stackalloc int[Mr * Nr];
                    for (int jp = jp0; jp < jp1; jp++)
                    {
                        short* b = w.WidePanel(jp);
                        int c0 = jp * Nr, cols = Math.Min(Nr, n - c0);
                        for (int ip = ip0; ip < ip1; ip++)
                        {
                            Int8MicroKernels.Wide12x32(a + (long)ip * kPairs * Mr, b, kPairs, acc);
                            int r0 = ip * Mr;
                            Store(acc, r0, Math.Min(Mr, m - r0), c0, cols, rs, cs, bias, y, ldy, accumulate);
                        }
                    }
                });
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(aBuf);
            ArrayPool<float>.Shared.Return(rowScale);
        }
    }

    /// <summary>
    /// Quantises rows [ip·12, ip·12+12) exactly as <see cref="Int8Quantize.Row"/> does and writes them
    /// straight in panel order as int16 pairs (no intermediate int8 row); rows past m are zeros.
    /// </summary>
    private static void QuantizePanel(float* x, int ldx, int m, int k, int kPairs, int* panel, float* rowScale, int ip)
    {
        int* pairs = stackalloc int[16];
        for (int i = 0; i < Mr; i++)
        {
            int r = ip * Mr + i;
            int* dst = panel + i;
            float* row = x + (long)r * ldx;
            float amax = r < m ? Int8Quantize.MaxAbs(new ReadOnlySpan<float>(row, k)) : 0f;
            if (!(amax > 0) || !float.IsFinite(amax))
            {
                // Same convention as Int8Quantize.Row: a zero or non-finite row contributes zeros.
                rowScale[r] = r >= m ? 0f : amax > 0 ? amax / 127f : 1f;
                for (int p = 0; p < kPairs; p++) dst[(long)p * Mr] = 0;
                continue;
            }
            rowScale[r] = amax / 127f;
            float inv = 127f / amax;
            int p0 = 0;
            var vi = Vector512.Create(inv);
            var lo = Vector512.Create(-127f);
            var hi = Vector512.Create(127f);
            for (; 2 * p0 + 32 <= k; p0 += 16)
            {
                var i0 = Vector512.ConvertToInt32(Vector512.Clamp(Vector512.Round(Vector512.Load(row + 2 * p0) * vi), lo, hi));
                var i1 = Vector512.ConvertToInt32(Vector512.Clamp(Vector512.Round(Vector512.Load(row + 2 * p0 + 16) * vi), lo, hi));
                Vector512.Narrow(i0, i1).AsInt32().Store(pairs);
                for (int j = 0; j < 16; j++) dst[(long)(p0 + j) * Mr] = pairs[j];
            }
            for (; p0 < kPairs; p0++)
            {
                int kk = 2 * p0;
                int q0 = (int)Math.Clamp(MathF.Round(row[kk] * inv), -127f, 127f);
                int q1 = kk + 1 < k ? (int)Math.Clamp(MathF.Round(row[kk + 1] * inv), -127f, 127f) : 0;
                dst[(long)p0 * Mr] = (int)((uint)(ushort)(short)q0 | ((uint)(ushort)(short)q1 << 16));
            }
        }
    }

    /// <summary>y = acc · rowScale · colScale (+ bias, or + y), in the reference's order of float operations.</summary>
    private static void Store(int* acc, int r0, int rows, int c0, int cols, float* rowScale, float* colScale,
        float* bias, float* y, int ldy, bool accumulate)
    {
        for (int i = 0; i < rows; i++)
        {
            float sx = rowScale[r0 + i];
            float* dst = y + (long)(r0 + i) * ldy + c0;
            int* src = acc + i * Nr;
            int j = 0;
            var vs = Vector512.Create(sx);
            for (; j + 16 <= cols; j += 16)
            {
                var v = Vector512.ConvertToSingle(Vector512.Load(src + j)) * vs * Vector512.Load(colScale + c0 + j);
                if (accumulate) v += Vector512.Load(dst + j);
                else if (bias != null) v += Vector512.Load(bias + c0 + j);
                v.Store(dst + j);
            }
            for (; j < cols; j++)
            {
                float v = src[j] * sx * colScale[c0 + j];
                if (accumulate) v += dst[j];
                else if (bias != null) v += bias[c0 + j];
                dst[j] = v;
            }
        }
    }
}
