using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The pool's work distribution, with more workers than this machine's cores so races get exercised.</summary>
public class KernelWorkerPoolTests
{
    private static readonly KernelWorkerPool Pool = new(5);
    private static readonly int[] Counts = [0, 1, 2, 3, 4, 5, 6, 7, 11, 64, 1000];

    [Fact]
    public void EveryIndexRunsExactlyOnce()
    {
        foreach (int count in Counts)
            for (int threads = 1; threads <= Pool.Workers + 2; threads++)
            {
                var hits = new int[count];
                Assert.True(Pool.TryFor(count, threads, i => Interlocked.Increment(ref hits[i]), serial: false));
                Assert.All(hits, h => Assert.Equal(1, h));
            }
    }

    [Fact]
    public void RangesCoverEveryIndexExactlyOnce()
    {
        foreach (int total in Counts)
            foreach (int chunks in new[] { 1, 2, 3, 7, 24 })
            {
                var hits = new int[total];
                Assert.True(Pool.TryForRanges(total, chunks, 4, (a, b) =>
                {
                    Assert.True(0 <= a && a <= b && b <= total);
                    for (int i = a; i < b; i++) Interlocked.Increment(ref hits[i]);
                }));
                Assert.All(hits, h => Assert.Equal(1, h));
            }
    }

    [Fact]
    public void SeveralThreadsTakePartWhenItemsAreSlow()
    {
        var ids = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        Assert.True(Pool.TryFor(60, 4, _ => { ids[Environment.CurrentManagedThreadId] = true; Thread.Sleep(2); }, serial: false));
        Assert.InRange(ids.Count, 2, 4);
        Assert.Contains(Environment.CurrentManagedThreadId, ids.Keys);
    }

    [Fact]
    public void NestedCallIsRefusedSoTheItemRunsItInline()
    {
        int refused = 0;
        Assert.True(Pool.TryFor(8, 4, _ =>
        {
            Assert.True(KernelWorkerPool.InCall);
            if (!Pool.TryFor(4, 4, _ => { }, serial: false)) Interlocked.Increment(ref refused);
        }, serial: false));
        Assert.Equal(8, refused);
        Assert.False(KernelWorkerPool.InCall);
    }

    [Fact]
    public void SerialCallsKeepKernelsInsideItemsSingleThreaded()
    {
        int wrong = 0;
        Assert.True(Pool.TryFor(16, 4, _ => { if (KernelParallel.MaxThreads != 1) Interlocked.Increment(ref wrong); }, serial: true));
        Assert.Equal(0, wrong);
        Assert.False(KernelParallel.Serial);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FirstFailurePropagatesAfterWorkersStopAndThePoolStaysUsable(bool failOnCaller)
    {
        int caller = Environment.CurrentManagedThreadId, running = 0, started = 0;
        var e = Assert.Throws<InvalidOperationException>(() => Pool.TryFor(400, 6, i =>
        {
            Interlocked.Increment(ref started);
            Interlocked.Increment(ref running);
            try
            {
                Thread.SpinWait(2000);
                bool onCaller = Environment.CurrentManagedThreadId == caller;
                if (i >= 20 && onCaller == failOnCaller) throw new InvalidOperationException("item " + i);
            }
            finally { Interlocked.Decrement(ref running); }
        }, serial: false));
        Assert.StartsWith("item ", e.Message);
        Assert.Equal(0, Volatile.Read(ref running));
        int after = Volatile.Read(ref started);
        Thread.Sleep(20);
        Assert.Equal(after, Volatile.Read(ref started));
        Assert.True(after < 400, $"{after} items started: the failure should stop the hand-out");

        var hits = new int[100];
        Assert.True(Pool.TryFor(100, 6, i => Interlocked.Increment(ref hits[i]), serial: false));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ConcurrentCallersAreAllCorrectAndNoneDeadlocks()
    {
        int failures = 0, inline = 0;
        var callers = Enumerable.Range(0, 4).Select(c => new Thread(() =>
        {
            for (int call = 0; call < 300; call++)
            {
                int count = (call * 7 + c) % 50;
                var hits = new int[count];
                if (!Pool.TryFor(count, 6, i => Interlocked.Increment(ref hits[i]), serial: false))
                {
                    Interlocked.Increment(ref inline);
                    for (int i = 0; i < count; i++) hits[i]++;
                }
                if (hits.Any(h => h != 1)) Interlocked.Increment(ref failures);
            }
        }) { IsBackground = true }).ToArray();
        foreach (var t in callers) t.Start();
        foreach (var t in callers) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a caller is stuck");
        Assert.Equal(0, failures);
    }

    [Fact]
    public void IdleWorkersPark()
    {
        Assert.True(Pool.TryFor(10, 6, _ => { }, serial: false));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Pool.ParkedWorkers < Pool.Workers && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Assert.Equal(Pool.Workers, Pool.ParkedWorkers);
    }
}
