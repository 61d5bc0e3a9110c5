using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// Persistent background workers behind <see cref="KernelParallel"/>. A decode makes hundreds of
/// sub-millisecond kernel calls; going through the TPL cost a task graph and a thread-pool wake-up each.
/// Here a call publishes one work item (delegate + item count + shared counter) in fields of the pool,
/// the caller always takes items itself, and workers that spun since the last call join at once; only
/// workers that have gone to sleep need a kernel wake-up. Nothing is allocated per call.
/// </summary>
/// <remarks>
/// Protocol: <c>_slots</c> is the number of workers that may still join the published call. A worker
/// raises <c>_active</c> before it tries to take a slot and lowers it when done, so once the caller has
/// closed the call (slots = 0) and seen <c>_active</c> at 0, no worker touches the call's fields any more
/// and the next call may overwrite them. One caller owns the pool at a time (<c>_busy</c>); a second caller,
/// or a call from inside an item, is told to run inline instead of waiting, so nothing can deadlock.
/// </remarks>
internal sealed class KernelWorkerPool
{
    /// <summary>Idle time a worker spins before parking: covers the gaps between back-to-back kernel calls.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency * SpinMicroseconds() / 1_000_000;

    /// <summary>Set while the thread runs items of a pool call (workers always; callers while they take part).</summary>
    [ThreadStatic] private static bool t_inCall;

    private readonly Worker[] _workers;
    private int _busy, _slots, _active, _spinning;

    // The published call; written only by the owning caller while no worker can read them.
    private Action<int>? _body;
    private Action<int, int>? _ranges;
    private int _count, _total, _next;
    private bool _serial;
    private Exception? _error;

    public KernelWorkerPool(int workers)
    {
        _workers = new Worker[Math.Max(0, workers)];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker();
            var thread = new Thread(WorkerLoop, 256 * 1024) { IsBackground = true, Name = $"SAM kernel worker {i + 1}" };
            thread.Start(_workers[i]);
        }
    }

    /// <summary>Worker threads (the caller makes one more).</summary>
    public int Workers => _workers.Length;

    /// <summary>Workers asleep on their signal (idle past the spin).</summary>
    public int ParkedWorkers => _workers.Count(w => Volatile.Read(ref w.Parked) == 1);

    /// <summary>Whether the current thread is running an item of some pool call.</summary>
    public static bool InCall => t_inCall;

    /// <summary>
    /// Runs body(i) for i in [0, count) on the caller and up to threads − 1 workers. Returns false, having
    /// run nothing, when the pool is taken (another caller, or a nested call): the caller then runs inline.
    /// </summary>
    public bool TryFor(int count, int threads, Action<int> body, bool serial) => TryRun(count, threads, body, null, 0, serial);

    /// <summary>Like <see cref="TryFor"/> with item t covering [total·t/count, total·(t+1)/count).</summary>
    public bool TryForRanges(int total, int count, int threads, Action<int, int> body) => TryRun(count, threads, null, body, total, false);

    private bool TryRun(int count, int threads, Action<int>? body, Action<int, int>? ranges, int total, bool serial)
    {
        if (t_inCall || _workers.Length == 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        _body = body;
        _ranges = ranges;
        _count = count;
        _total = total;
        _serial = serial;
        _next = -1;
        _error = null;
        int slots = Math.Min(threads - 1, _workers.Length);
        Interlocked.Exchange(ref _slots, slots);
        Wake(slots - Volatile.Read(ref _spinning));

        t_inCall = true;
        RunItems();
        t_inCall = false;

        Interlocked.Exchange(ref _slots, 0);
        var wait = new SpinWait();
        while (Volatile.Read(ref _active) != 0) wait.SpinOnce(sleep1Threshold: -1);
        var error = _error;
        _error = null;
        _body = null;
        _ranges = null;
        Volatile.Write(ref _busy, 0);
        if (error != null) ExceptionDispatchInfo.Throw(error);
        return true;
    }

    /// <summary>Takes items until none are left; the first failure stops further items from being handed out.</summary>
    private void RunItems()
    {
        bool serialBefore = KernelParallel.Serial;
        if (_serial) KernelParallel.Serial = true;
        try
        {
            int count = _count, i;
            if (_ranges is { } ranges)
            {
                long total = _total;
                while ((i = Interlocked.Increment(ref _next)) < count) ranges((int)(total * i / count), (int)(total * (i + 1) / count));
            }
            else
            {
                var body = _body!;
                while ((i = Interlocked.Increment(ref _next)) < count) body(i);
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            Interlocked.Exchange(ref _next, _count);
        }
        finally { KernelParallel.Serial = serialBefore; }
    }

    private void Wake(int wanted)
    {
        for (int i = 0; i < _workers.Length && wanted > 0; i++)
        {
            var w = _workers[i];
            if (Volatile.Read(ref w.Parked) == 1 && Interlocked.CompareExchange(ref w.Parked, 0, 1) == 1)
            {
                w.Signal.Release();
                wanted--;
            }
        }
    }

    private bool TryJoin()
    {
        Interlocked.Increment(ref _active);
        try
        {
            int s;
            while ((s = Volatile.Read(ref _slots)) > 0)
            {
                if (Interlocked.CompareExchange(ref _slots, s - 1, s) != s) continue;
                RunItems();
                return true;
            }
            return false;
        }
        finally { Interlocked.Decrement(ref _active); }
    }

    private void WorkerLoop(object? state)
    {
        var self = (Worker)state!;
        t_inCall = true;
        while (true)
        {
            if (Volatile.Read(ref _slots) > 0 && TryJoin()) continue;

            Interlocked.Increment(ref _spinning);
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            while (Volatile.Read(ref _slots) == 0 && Stopwatch.GetTimestamp() < deadline) Thread.SpinWait(8);
            if (Volatile.Read(ref _slots) > 0)
            {
                Interlocked.Decrement(ref _spinning);
                continue;
            }

            // Announce the park before leaving the spinners, then look once more: a caller that published after
            // this worker's last look either sees it among the spinners or finds it parked and wakes it.
            Interlocked.Exchange(ref self.Parked, 1);
            Interlocked.Decrement(ref _spinning);
            if (Volatile.Read(ref _slots) > 0 && Interlocked.CompareExchange(ref self.Parked, 0, 1) == 1) continue;
            self.Signal.Wait(); // a caller cleared Parked and released exactly one permit (maybe already)
        }
    }

    private static int SpinMicroseconds() =>
        int.TryParse(Environment.GetEnvironmentVariable("SAM_POOL_SPIN_US"), out int us) && us >= 0 ? us : 50;

    private sealed class Worker
    {
        public int Parked;
        public readonly SemaphoreSlim Signal = new(0);
    }
}
