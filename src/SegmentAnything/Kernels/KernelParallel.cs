namespace SegmentAnything.Kernels;

/// <summary>
/// Work splitting shared by the kernels. Workers pull item indices from one counter, so uneven items
/// (edge tiles, short rows) balance themselves without a scheduler per item.
/// </summary>
public static class KernelParallel
{
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Upper bound on the threads one kernel call uses (default: all processors).</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set => _maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least one thread.");
    }

    /// <summary>Runs body(0..count-1) on up to <paramref name="threads"/> threads; inline when one suffices.</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        threads = Math.Min(Math.Min(threads, _maxThreads), count);
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        int next = -1;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count) body(i);
        });
    }

    /// <summary>Splits [0, count) into contiguous ranges of at least <paramref name="minPerChunk"/> items.</summary>
    public static void ForRanges(int count, int minPerChunk, Action<int, int> body)
    {
        int chunks = Math.Clamp(count / Math.Max(1, minPerChunk), 1, _maxThreads * 4);
        if (chunks == 1 || _maxThreads == 1)
        {
            body(0, count);
            return;
        }
        For(chunks, _maxThreads, t => body((int)((long)count * t / chunks), (int)((long)count * (t + 1) / chunks)));
    }
}
