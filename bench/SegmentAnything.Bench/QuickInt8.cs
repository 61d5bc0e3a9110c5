using System.Diagnostics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Bench;

/// <summary>Interleaved stopwatch A/B of a float Linear against the dynamic int8 kernels on one shape.</summary>
public static class QuickInt8
{
    public static void Run(int m, int k, int n, int reps = 7)
    {
        var rnd = new Random(1);
        var x = new float[m * k];
        var wf = new float[n * k];
        var bias = new float[n];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rnd.NextDouble() - 0.5f;
        for (int i = 0; i < wf.Length; i++) wf[i] = (float)rnd.NextDouble() - 0.5f;
        var (q, scales) = Int8Quantize.Weights(wf, n, k);
        var lin = new Linear((ReadOnlySpan<float>)wf, bias, k, n);
        var int8 = new Int8Matrix(q, scales, n, k);
        var y = new float[m * n];
        var isas = Enum.GetValues<Int8Isa>().Where(i => i != Int8Isa.Scalar && Int8IsaInfo.IsSupported(i)).ToArray();
        var runs = new List<(string Name, Action Body)> { ("float32", () => lin.Forward(x, y, m)) };
        foreach (var isa in isas) runs.Add((isa.ToString(), () => Int8Gemm.MatMul(x, k, m, int8, y, n, bias, false, isa)));
        var best = runs.Select(_ => double.MaxValue).ToArray();
        foreach (var r in runs) r.Body();
        for (int rep = 0; rep < reps; rep++)
            for (int i = 0; i < runs.Count; i++)
            {
                var sw = Stopwatch.StartNew();
                runs[i].Body();
                best[i] = Math.Min(best[i], sw.Elapsed.TotalSeconds);
            }
        double flop = 2.0 * m * n * k;
        Console.Write($"{m}x{k}x{n}:");
        for (int i = 0; i < runs.Count; i++)
            Console.Write($"  {runs[i].Name} {flop / best[i] / 1e9:F1} GFLOP/s ({best[0] / best[i]:F2}x)");
        Console.WriteLine();
    }
}
