using BenchmarkDotNet.Running;
using SegmentAnything.Bench;
using SegmentAnything.Kernels;

// --peak: FMA peak of this machine. --quick: stopwatch GEMM GFLOP/s against that peak.
// --int8 [MxKxN ...]: float Linear against the int8 kernels. Anything else goes to BenchmarkDotNet (e.g. --filter '*Gemm*').
if (args.Contains("--int8"))
{
    var dims = args.Where(a => a.Count(ch => ch == 'x') == 2).Select(a => a.Split('x').Select(int.Parse).ToArray()).ToList();
    if (dims.Count == 0) dims = [[4096, 768, 2304], [4096, 768, 3072], [4096, 3072, 768]];
    Console.WriteLine($"int8 kernels: best {Int8IsaInfo.Best}, processors: {Environment.ProcessorCount}");
    foreach (var d in dims) QuickInt8.Run(d[0], d[1], d[2]);
    return;
}
if (args.Contains("--peak") || args.Contains("--quick"))
{
    Console.WriteLine($"GEMM kernel: {Gemm.Isa}, processors: {Environment.ProcessorCount}");
    double peak1 = PeakFlops.Measure(1), peakN = PeakFlops.Measure(Environment.ProcessorCount);
    Console.WriteLine($"Peak FMA: 1 thread {peak1:F1} GFLOP/s, {Environment.ProcessorCount} threads {peakN:F1} GFLOP/s");
    if (args.Contains("--quick"))
    {
        var shapes = new[] { (4096, 768, 2304), (4096, 3072, 768), (4096, 768, 3072), (1024, 1024, 1024), (196, 64, 196), (64, 256, 256) };
        var custom = args.Where(a => a.Count(ch => ch == 'x') == 2).Select(a => a.Split('x').Select(int.Parse).ToArray()).ToArray();
        if (custom.Length > 0) shapes = custom.Select(s => (s[0], s[1], s[2])).ToArray();
        foreach (var (m, k, n) in shapes)
            foreach (int t in new[] { 1, Environment.ProcessorCount })
            {
                double g = QuickGemm.Measure(m, k, n, false, t);
                double p = t == 1 ? peak1 : peakN;
                Console.WriteLine($"m={m} k={k} n={n} threads={t}: {g:F1} GFLOP/s = {100 * g / p:F1}% of peak");
            }
    }
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);
