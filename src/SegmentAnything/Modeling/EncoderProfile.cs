using System.Diagnostics;

namespace SegmentAnything.Modeling;

/// <summary>
/// Optional per-stage wall timing of the EfficientSAM image encoder (environment variable SAM_ENCODER_PROFILE=1),
/// printed to stderr when the process exits. Off by default, when each probe costs one static bool read.
/// </summary>
internal static class EncoderProfile
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SAM_ENCODER_PROFILE") == "1";
    public const int Patch = 0, Qkv = 1, Attention = 2, ProjMlp = 3, Neck = 4;
    private static readonly StageProfile Stages = new(Enabled, "encoder profile (wall time)", "call",
        ["patch+pos", "norm1+qkv", "attention", "proj+mlp", "neck"]);

    public static void Call()
    {
        if (Enabled) Stages.Count(1);
    }

    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="stage"/>; returns now, the next stage's start.</summary>
    public static long Lap(int stage, long start) => Enabled ? Stages.Lap(stage, start, 1) : 0;
}
