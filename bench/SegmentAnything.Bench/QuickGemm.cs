using System.Diagnostics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Bench;

/// <summary>Stopwatch timing of GEMM shapes (fast feedback; BenchmarkDotNet gives the careful numbers).</summary>
public static class QuickGemm
{
    public static double Measure(int m, int k, int n, bool bTransposed, int threads, int reps = 15)
    {
        var rnd = new Random(1);
        var a = new float[m * k];
        var b = new float[k * n];
        var c = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)rnd.NextDouble() - 0.5f;
        for (int i = 0; i < b.Length; i++) b[i] = (float)rnd.NextDouble() - 0.5f;
        int saved = KernelParallel.MaxThreads;
        KernelParallel.MaxThreads = threads;
        try
        {
            Gemm.MatMul(a, b, c, m, k, n, bTransposed);
            double best = double.MaxValue;
            for (int r = 0; r < reps; r++)
            {
                var sw = Stopwatch.StartNew();
                Gemm.MatMul(a, b, c, m, k, n, bTransposed);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            return 2.0 * m * n * k / best / 1e9;
        }
        finally { KernelParallel.MaxThreads = saved; }
    }
}
