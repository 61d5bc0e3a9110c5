using BenchmarkDotNet.Attributes;
using SegmentAnything.Kernels;

namespace SegmentAnything.Bench;

/// <summary>ViT-B encoder shapes: qkv projection (4096x768x2304) and MLP down-projection (4096x3072x768).</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    [Params("4096x768x2304", "4096x3072x768", "4096x768x3072", "196x64x196")]
    public string Shape { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    private float[] _a = [], _b = [], _c = [];
    private int _m, _k, _n;

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x').Select(int.Parse).ToArray();
        (_m, _k, _n) = (parts[0], parts[1], parts[2]);
        var rnd = new Random(1);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)rnd.NextDouble()).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)rnd.NextDouble()).ToArray();
        _c = new float[_m * _n];
        KernelParallel.MaxThreads = Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => KernelParallel.MaxThreads = Environment.ProcessorCount;

    [Benchmark]
    public void MatMul() => Gemm.MatMul(_a, _b, _c, _m, _k, _n);
}
