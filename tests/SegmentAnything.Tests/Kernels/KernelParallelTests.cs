using SegmentAnything.Kernels;
using SegmentAnything.Tests.Api;

namespace SegmentAnything.Tests.Kernels;

/// <summary>
/// KernelParallel through the shared pool. In the allocation collection: it runs alone there, so changing
/// MaxThreads and counting allocated bytes sees no other test's kernels.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public class KernelParallelTests
{
    private static readonly int[] Hits = new int[256];
    private static readonly Action<int> Count = i => Interlocked.Increment(ref Hits[i]);
    private static readonly Action<int, int> CountRange = (a, b) => { for (int i = a; i < b; i++) Interlocked.Increment(ref Hits[i]); };

    [Fact]
    public void ForForRangesAndForEachSerialRunEveryIndexOnce()
    {
        foreach (int count in new[] { 0, 1, 2, 3, 5, 17, 256 })
        {
            Array.Clear(Hits);
            KernelParallel.For(count, KernelParallel.MaxThreads, Count);
            KernelParallel.ForEachSerial(count, Count);
            KernelParallel.ForRanges(count, 3, CountRange);
            for (int i = 0; i < Hits.Length; i++) Assert.Equal(i < count ? 3 : 0, Hits[i]);
        }
    }

    [Fact]
    public void NestedCallsRunInlineOnTheItemsThread()
    {
        int elsewhere = 0;
        var hits = new int[8 * 8];
        KernelParallel.For(8, 8, i =>
        {
            int thread = Environment.CurrentManagedThreadId;
            KernelParallel.For(8, 8, j =>
            {
                if (Environment.CurrentManagedThreadId != thread) Interlocked.Increment(ref elsewhere);
                Interlocked.Increment(ref hits[i * 8 + j]);
            });
        });
        Assert.Equal(0, elsewhere);
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void OneMaxThreadMeansOnlyTheCaller()
    {
        int before = KernelParallel.MaxThreads, caller = Environment.CurrentManagedThreadId, elsewhere = 0;
        try
        {
            KernelParallel.MaxThreads = 1;
            Action<int> body = _ => { if (Environment.CurrentManagedThreadId != caller) Interlocked.Increment(ref elsewhere); Thread.SpinWait(100); };
            KernelParallel.For(500, 8, body);
            KernelParallel.ForEachSerial(500, body);
            KernelParallel.ForRanges(500, 1, (a, b) => { for (int i = a; i < b; i++) body(i); });
            Assert.Equal(0, elsewhere);
        }
        finally { KernelParallel.MaxThreads = before; }
    }

    [Fact]
    public void ConcurrentCallersGetCorrectResults()
    {
        int failures = 0;
        var callers = Enumerable.Range(0, 3).Select(c => new Thread(() =>
        {
            for (int call = 0; call < 200; call++)
            {
                var hits = new int[(call + c) % 40];
                KernelParallel.For(hits.Length, 4, i => Interlocked.Increment(ref hits[i]));
                KernelParallel.ForEachSerial(hits.Length, i => Interlocked.Increment(ref hits[i]));
                if (hits.Any(h => h != 2)) Interlocked.Increment(ref failures);
            }
        }) { IsBackground = true }).ToArray();
        foreach (var t in callers) t.Start();
        foreach (var t in callers) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a caller is stuck");
        Assert.Equal(0, failures);
    }

    [Fact]
    public void ItemFailureReachesTheCallerUnwrapped()
    {
        Assert.Throws<ArithmeticException>(() => KernelParallel.For(64, 8, i => { if (i == 40) throw new ArithmeticException(); }));
        Array.Clear(Hits);
        KernelParallel.For(64, 8, Count);
        Assert.Equal(64, Hits.Sum());
    }

    // Allocation seen by each thread that ran items, read at every item: what a worker allocates between
    // two items (joining, spinning, parking, waking) shows up as a change between its readings.
    private static readonly long[] FirstSeen = new long[64], LastSeen = new long[64];
    private static int _probeThreads;
    [ThreadStatic] private static int t_probeSlot;
    private static readonly Action<int> Probe = _ =>
    {
        if (t_probeSlot == 0) t_probeSlot = Interlocked.Increment(ref _probeThreads);
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        if (FirstSeen[t_probeSlot] == 0) FirstSeen[t_probeSlot] = bytes;
        LastSeen[t_probeSlot] = bytes;
        Thread.SpinWait(50);
    };

    [Fact]
    public void CallsAllocateNothingAfterWarmUp()
    {
        for (int i = 0; i < 200; i++) Calls();
        long least = long.MaxValue;
        for (int run = 0; run < 3; run++)
        {
            long thread = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++) Calls();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - thread);
        }
        Assert.Equal(0, least);

        Array.Clear(FirstSeen);
        for (int i = 0; i < 1000; i++) KernelParallel.For(64, KernelParallel.MaxThreads, Probe);
        for (int slot = 1; slot <= _probeThreads; slot++)
            Assert.True(FirstSeen[slot] == 0 || LastSeen[slot] == FirstSeen[slot], $"thread {slot}: {LastSeen[slot] - FirstSeen[slot]} bytes between items");
        if (KernelParallel.MaxThreads > 1) Assert.True(_probeThreads >= 2, "no worker took part");

        static void Calls()
        {
            KernelParallel.For(64, KernelParallel.MaxThreads, Count);
            KernelParallel.ForEachSerial(16, Count);
            KernelParallel.ForRanges(256, 8, CountRange);
        }
    }
}
