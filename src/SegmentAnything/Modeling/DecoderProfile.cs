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
    public const int Tokens = 0, T2iPack = 1, T2iScores = 2, T2iSoftmax = 3, T2iPv = 4, I2tScores = 5, I2tSoftmax = 6, I2tOut = 7, I2tRln = 8, Final = 9, Upscale = 10;
    private static readonly StageProfile Stages = new(Enabled, "decoder profile (thread time summed over threads)", "prompt",
        ["tokens", "t2i.pack", "t2i.scores", "t2i.softmax", "t2i.pv", "i2t.scores", "i2t.softmax", "i2t.out", "i2t.rln", "final", "upscale"]);

    /// <summary>Counts prompts decoded, so the printout can give time per prompt.</summary>
    public static void Prompts(int count)
    {
        if (Enabled) Stages.Count(count);
    }

    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="stage"/>; returns now, the next stage's start.</summary>
    public static long Lap(int stage, long start) => Enabled ? Stages.Lap(stage, start, 1) : 0;

    /// <summary>As <see cref="Lap(int, long)"/> for a stage whose kernels ran on <paramref name="threads"/> threads at once (wall time × threads).</summary>
    public static long Lap(int stage, long start, int threads) => Enabled ? Stages.Lap(stage, start, threads) : 0;
}
