using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// Per-thread pool for the decoder's token-side arrays (a chunk of prompts' few tokens: sums, projections,
/// MLP hidden rows). Arrays are handed out at their exact length, so code that relies on
/// <c>Length</c> keeps working, and all arrays rented after a <see cref="Mark"/> come back together at
/// <see cref="Release"/>: after the first chunk of a given size, decoding rents without allocating.
/// </summary>
internal static class TokenArena
{
    private sealed class State
    {
        public readonly Dictionary<int, Stack<float[]>> Free = [];
        public readonly List<float[]> Rented = [];
    }

    [ThreadStatic] private static State? t_state;

    /// <summary>Only arrays rented after this point are given back by <see cref="Release"/>.</summary>
    public static int Mark() => (t_state ??= new State()).Rented.Count;

    /// <summary>An array of exactly <paramref name="length"/> floats with undefined contents, valid until the matching <see cref="Release"/>.</summary>
    public static float[] Rent(int length)
    {
        var s = t_state ??= new State();
        float[] a = s.Free.TryGetValue(length, out var stack) && stack.TryPop(out var b) ? b : GC.AllocateUninitializedArray<float>(length);
        s.Rented.Add(a);
        return a;
    }

    /// <summary>Gives back every array rented on this thread since <paramref name="mark"/>.</summary>
    public static void Release(int mark)
    {
        var s = t_state!;
        for (int i = s.Rented.Count - 1; i >= mark; i--)
        {
            float[] a = s.Rented[i];
            if (!s.Free.TryGetValue(a.Length, out var stack)) s.Free[a.Length] = stack = new Stack<float[]>();
            stack.Push(a);
        }
        s.Rented.RemoveRange(mark, s.Rented.Count - mark);
    }

    /// <summary>a + b into a rented array.</summary>
    public static float[] Sum(float[] a, float[] b)
    {
        float[] r = Rent(a.Length);
        Elementwise.Add(a, b, r);
        return r;
    }

    /// <summary><paramref name="layer"/>(x) for <paramref name="rows"/> rows into a rented array.</summary>
    public static float[] Forward(Linear layer, ReadOnlySpan<float> x, int rows)
    {
        float[] y = Rent(rows * layer.OutFeatures);
        layer.Forward(x, y, rows);
        return y;
    }
}
