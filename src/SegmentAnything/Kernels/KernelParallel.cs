namespace SegmentAnything.Kernels;

/// <summary>
/// Work splitting shared by the kernels. Workers pull item indices from one counter, so uneven items
/// (edge tiles, short rows) balance themselves without a scheduler per item.
/// </summary>
public static class KernelParallel
{
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Set on threads that already run one of many independent items in parallel (see <see cref="ForEachSerial"/>).</summary>
    [ThreadStatic] private static bool _serial;

    /// <summary>Upper bound on the threads one kernel call uses (default: all processors; 1 inside <see cref="ForEachSerial"/>).</summary>
    public static int MaxThreads
    {
        get => _serial ? 1 : _maxThreads;
        set => _maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least one thread.");
    }

    /// <summary>Runs body(0..count-1) on up to <paramref name="threads"/> threads; inline when one suffices.</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        threads = Math.Min(Math.Min(threads, MaxThreads), count);
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

    /// <summary>
    /// Runs body(0..count-1) with items spread over the threads and every kernel called inside an item
    /// kept on its thread: for many independent medium-sized items (a decoder's prompts), where splitting
    /// each item's products across threads costs more in synchronisation than it gains.
    /// </summary>
    public static void ForEachSerial(int count, Action<int> body)
    {
        int threads = Math.Min(MaxThreads, count);
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        int next = -1;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            bool was = _serial;
            _serial = true;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count) body(i);
            }
            finally { _serial = was; }
        });
    }

    /// <summary>Splits [0, count) into contiguous ranges of at least <paramref name="minPerChunk"/> items.</summary>
    public static void ForRanges(int count, int minPerChunk, Action<int, int> body)
    {
        int max = MaxThreads;
        int chunks = Math.Clamp(count / Math.Max(1, minPerChunk), 1, max * 4);
        if (chunks == 1 || max == 1)
        {
            body(0, count);
            return;
        }
        For(chunks, max, t => body((int)((long)count * t / chunks), (int)((long)count * (t + 1) / chunks)));
    }
}
