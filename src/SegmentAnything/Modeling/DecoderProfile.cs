using System.Diagnostics;

namespace SegmentAnything.Modeling;

/// <summary>
/// Optional per-stage timing of batched decoding (environment variable SAM_DECODER_PROFILE=1): ticks summed over
/// threads, so per-prompt stages read as thread time; printed to stderr when the process exits. Off by default,
/// when each probe costs one static bool read.
/// </summary>
internal static class DecoderProfile
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SAM_DECODER_PROFILE") == "1";
    private static readonly string[] Names =
        ["tokens", "t2i.pack", "t2i.scores", "t2i.softmax", "t2i.pv", "i2t.scores", "i2t.softmax", "i2t.out", "i2t.rln", "final", "upscale"];
    private static readonly long[] Ticks = new long[Names.Length];
    public const int Tokens = 0, T2iPack = 1, T2iScores = 2, T2iSoftmax = 3, T2iPv = 4, I2tScores = 5, I2tSoftmax = 6, I2tOut = 7, I2tRln = 8, Final = 9, Upscale = 10;

    static DecoderProfile()
    {
        if (Enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Print();
    }

    private static long _prompts;

    /// <summary>Counts prompts decoded, so the printout can give time per prompt.</summary>
    public static void Prompts(int count)
    {
        if (Enabled) Interlocked.Add(ref _prompts, count);
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

    /// <summary>As <see cref="Lap"/> for a stage whose kernels ran on <paramref name="threads"/> threads at once (wall time × threads).</summary>
    public static long Lap(int stage, long start, int threads)
    {
        if (!Enabled) return 0;
        long now = Stopwatch.GetTimestamp();
        Interlocked.Add(ref Ticks[stage], (now - start) * threads);
        return now;
    }

    private static void Print()
    {
        double total = 0;
        foreach (long t in Ticks) total += t;
        long prompts = Math.Max(1, _prompts);
        Console.Error.WriteLine($"decoder profile over {prompts} prompts (thread time summed over threads):");
        for (int i = 0; i < Names.Length; i++)
            Console.Error.WriteLine($"  {Names[i],-12} {Ticks[i] * 1000.0 / Stopwatch.Frequency,10:F1} ms {Ticks[i] * 1000.0 / Stopwatch.Frequency / prompts,8:F3} ms/prompt {100 * Ticks[i] / Math.Max(1, total),5:F1} %");
    }
}
