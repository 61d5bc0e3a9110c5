using System.Diagnostics;

namespace SegmentAnything.Modeling;

/// <summary>
/// Per-stage timing switched on by an environment variable (see <see cref="DecoderProfile"/>, <see cref="EncoderProfile"/>):
/// ticks per stage summed over the threads that report them, a count of work units (calls, prompts) to divide by,
/// printed to stderr when the process exits. The owners check their own static Enabled flag first, so a disabled
/// probe costs one static bool read.
/// </summary>
internal sealed class StageProfile
{
    private readonly string _title, _unit;
    private readonly string[] _names;
    private readonly long[] _ticks;
    private long _units;

    /// <param name="title">First line of the printout, e.g. "decoder profile (thread time summed over threads)".</param>
    /// <param name="unit">What <see cref="Count"/> counts, e.g. "prompt".</param>
    public StageProfile(bool enabled, string title, string unit, string[] names)
    {
        (_title, _unit, _names) = (title, unit, names);
        _ticks = new long[names.Length];
        if (enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Print();
    }

    public void Count(int units) => Interlocked.Add(ref _units, units);

    /// <summary>Adds (now − <paramref name="start"/>) × <paramref name="threads"/> to <paramref name="stage"/>; returns now.</summary>
    public long Lap(int stage, long start, int threads)
    {
        long now = Stopwatch.GetTimestamp();
        Interlocked.Add(ref _ticks[stage], (now - start) * threads);
        return now;
    }

    private void Print()
    {
        double total = 0;
        foreach (long t in _ticks) total += t;
        long units = Math.Max(1, _units);
        Console.Error.WriteLine($"{_title} over {units} {_unit}s:");
        for (int i = 0; i < _names.Length; i++)
        {
            double ms = _ticks[i] * 1000.0 / Stopwatch.Frequency;
            Console.Error.WriteLine($"  {_names[i],-12} {ms,10:F1} ms {ms / units,8:F3} ms/{_unit} {100 * _ticks[i] / Math.Max(1, total),5:F1} %");
        }
    }
}
