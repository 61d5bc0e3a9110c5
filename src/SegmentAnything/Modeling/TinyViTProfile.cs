using System.Diagnostics;
namespace SegmentAnything.Modeling;
internal static class TinyViTProfile
{
    public static readonly bool On = Environment.GetEnvironmentVariable("SAM_TVPROF") == "1";
    private static readonly Stopwatch Sw = Stopwatch.StartNew();
    private static double _last;
    private static readonly Dictionary<string, (double ms, long flops)> Acc = new();
    private static long _lastFlops;
    public static void Start() { if (!On) return; Acc.Clear(); _last = Sw.Elapsed.TotalMilliseconds; _lastFlops = SegmentAnything.Kernels.FlopCounter.Total; }
    public static void Mark(string label)
    {
        if (!On) return;
        double now = Sw.Elapsed.TotalMilliseconds; long f = SegmentAnything.Kernels.FlopCounter.Total;
        Acc.TryGetValue(label, out var v);
        Acc[label] = (v.ms + now - _last, v.flops + f - _lastFlops);
        _last = now; _lastFlops = f;
    }
    public static void Dump()
    {
        if (!On) return;
        double tot = Acc.Values.Sum(v => v.ms);
        foreach (var (k, v) in Acc) Console.Error.WriteLine($"{k,-28} {v.ms,8:F1} ms {v.flops / 1e9,7:F2} GF {v.flops / 1e6 / Math.Max(v.ms, 1e-9),7:F1} GF/s");
        Console.Error.WriteLine($"{"total",-28} {tot,8:F1} ms");
    }
}
