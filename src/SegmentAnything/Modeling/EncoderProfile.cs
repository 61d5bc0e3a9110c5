using System.Diagnostics;

namespace SegmentAnything.Modeling;

/// <summary>
/// Optional per-stage wall timing of the EfficientSAM image encoder (environment variable SAM_ENCODER_PROFILE=1),
/// printed to stderr when the process exits. Off by default, when each probe costs one static bool read.
/// </summary>
internal static class EncoderProfile
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SAM_ENCODER_PROFILE") == "1";
    private static readonly string[] Names = ["patch+pos", "norm1+qkv", "attention", "proj+mlp", "neck"];
    private static readonly long[] Ticks = new long[Names.Length];
    public const int Patch = 0, Qkv = 1, Attention = 2, ProjMlp = 3, Neck = 4;
    private static long _calls;

    static EncoderProfile()
    {
        if (Enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Print();
    }

    public static void Call()
    {
        if (Enabled) Interlocked.Increment(ref _calls);
    }

    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="stage"/>; returns now, the next stage's start.</summary>
    public static long Lap(int stage, long start)
    {
        if (!Enabled) return 0;
        long now = Stopwatch.GetTimestamp();
        Interlocked.Add(ref Ticks[stage], now - start);
        return now;
    }

    private static void Print()
    {
        double total = 0;
        foreach (long t in Ticks) total += t;
        long calls = Math.Max(1, _calls);
        Console.Error.WriteLine($"encoder profile over {calls} calls (wall time):");
        for (int i = 0; i < Names.Length; i++)
            Console.Error.WriteLine($"  {Names[i],-10} {Ticks[i] * 1000.0 / Stopwatch.Frequency / calls,9:F1} ms/call {100 * Ticks[i] / Math.Max(1, total),5:F1} %");
    }
}
