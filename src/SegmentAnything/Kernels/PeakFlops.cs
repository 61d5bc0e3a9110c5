using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Measures the machine's single-precision FMA peak: each thread runs independent FMA chains on
/// registers only (enough chains to cover FMA latency x throughput), so the count of FMAs per second
/// is the ceiling any GEMM can reach. Reported per thread count, best of several runs.
/// </summary>
public static class PeakFlops
{
    public static double Measure(int threads, double seconds = 1.0)
    {
        const long iterations = 20_000_000;
        double best = 0;
        for (int rep = 0; rep < 5; rep++)
        {
            var sw = Stopwatch.StartNew();
            long totalIters = 0;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
            {
                long n = 0;
                var deadline = Stopwatch.GetTimestamp() + (long)(seconds / 5 * Stopwatch.Frequency);
                float sink = 0;
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    sink += Vector512.IsHardwareAccelerated ? Chains512(iterations / 10) : Chains256(iterations / 10);
                    n += iterations / 10;
                }
                if (sink == 12345f) Console.Write("");
                Interlocked.Add(ref totalIters, n);
            });
            double secs = sw.Elapsed.TotalSeconds;
            // 12 chains x lanes x 2 flops per iteration.
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, totalIters * 12.0 * lanes * 2 / secs / 1e9);
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long n)
    {
        var m = Vector512.Create(0.999999f);
        var add = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0 + add, c2 = c1 + add, c3 = c2 + add, c4 = c3 + add, c5 = c4 + add,
            c6 = c5 + add, c7 = c6 + add, c8 = c7 + add, c9 = c8 + add, c10 = c9 + add, c11 = c10 + add;
        for (long i = 0; i < n; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, add); c1 = Vector512.FusedMultiplyAdd(c1, m, add);
            c2 = Vector512.FusedMultiplyAdd(c2, m, add); c3 = Vector512.FusedMultiplyAdd(c3, m, add);
            c4 = Vector512.FusedMultiplyAdd(c4, m, add); c5 = Vector512.FusedMultiplyAdd(c5, m, add);
            c6 = Vector512.FusedMultiplyAdd(c6, m, add); c7 = Vector512.FusedMultiplyAdd(c7, m, add);
            c8 = Vector512.FusedMultiplyAdd(c8, m, add); c9 = Vector512.FusedMultiplyAdd(c9, m, add);
            c10 = Vector512.FusedMultiplyAdd(c10, m, add); c11 = Vector512.FusedMultiplyAdd(c11, m, add);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long n)
    {
        var m = Vector256.Create(0.999999f);
        var add = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0 + add, c2 = c1 + add, c3 = c2 + add, c4 = c3 + add, c5 = c4 + add,
            c6 = c5 + add, c7 = c6 + add, c8 = c7 + add, c9 = c8 + add, c10 = c9 + add, c11 = c10 + add;
        for (long i = 0; i < n; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, add); c1 = Vector256.FusedMultiplyAdd(c1, m, add);
            c2 = Vector256.FusedMultiplyAdd(c2, m, add); c3 = Vector256.FusedMultiplyAdd(c3, m, add);
            c4 = Vector256.FusedMultiplyAdd(c4, m, add); c5 = Vector256.FusedMultiplyAdd(c5, m, add);
            c6 = Vector256.FusedMultiplyAdd(c6, m, add); c7 = Vector256.FusedMultiplyAdd(c7, m, add);
            c8 = Vector256.FusedMultiplyAdd(c8, m, add); c9 = Vector256.FusedMultiplyAdd(c9, m, add);
            c10 = Vector256.FusedMultiplyAdd(c10, m, add); c11 = Vector256.FusedMultiplyAdd(c11, m, add);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
