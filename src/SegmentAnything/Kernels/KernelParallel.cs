namespace SegmentAnything.Kernels;

/// <summary>
/// Work splitting shared by the kernels. Workers pull item indices from one counter, so uneven items
/// (edge tiles, short rows) balance themselves without a scheduler per item. Calls run on a persistent
/// pool (<see cref="KernelWorkerPool"/>) with the calling thread taking part; calls made from inside an
/// item, or while another thread owns the pool, run inline on their own thread.
/// </summary>
public static class KernelParallel
{
    private static int _maxThreads = Environment.ProcessorCount;
    private static KernelWorkerPool? _pool;
    private static readonly Lock PoolLock = new();

    /// <summary>Set on threads that already run one of many independent items in parallel (see <see cref="ForEachSerial"/>).</summary>
    [ThreadStatic] private static bool _serial;

    /// <summary>Upper bound on the threads one kernel call uses (default: all processors; 1 inside <see cref="ForEachSerial"/>).</summary>
    public static int MaxThreads
    {
        get => _serial ? 1 : _maxThreads;
        set => _maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least one thread.");
    }

    internal static bool Serial
    {
        get => _serial;
        set => _serial = value;
    }

    /// <summary>Workers are started on the first parallel call, so single-threaded runs never create them.</summary>
    internal static KernelWorkerPool Pool
    {
        get
        {
            var pool = Volatile.Read(ref _pool);
            if (pool != null) return pool;
            lock (PoolLock)
                return _pool ??= new KernelWorkerPool(Environment.ProcessorCount - 1);
        }
    }

    /// <summary>Runs body(0..count-1) on up to <paramref name="threads"/> threads; inline when one suffices.</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        threads = Math.Min(Math.Min(threads, MaxThreads), count);
        if (threads > 1 && Pool.TryFor(count, threads, body, serial: false)) return;
        for (int i = 0; i < count; i++) body(i);
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
        if (Pool.TryFor(count, threads, body, serial: true)) return;
        // The pool is taken by another caller: this thread alone runs the items, still one kernel thread each.
        bool was = _serial;
        _serial = true;
        try
        {
            for (int i = 0; i < count; i++) body(i);
        }
        finally { _serial = was; }
    }

    /// <summary>Splits [0, count) into contiguous ranges of at least <paramref name="minPerChunk"/> items.</summary>
    public static void ForRanges(int count, int minPerChunk, Action<int, int> body)
    {
        int max = MaxThreads;
        int chunks = Math.Clamp(count / Math.Max(1, minPerChunk), 1, max * 4);
        if (chunks == 1 || max == 1 || !Pool.TryForRanges(count, chunks, Math.Min(max, chunks), body)) body(0, count);
    }
}
