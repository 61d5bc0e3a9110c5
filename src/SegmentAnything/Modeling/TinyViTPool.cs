namespace SegmentAnything.Modeling;

/// <summary>
/// Whole-map buffers for the TinyViT stages, reused between forward passes: allocating them fresh
/// each call (tens of megabytes on the large object heap) costs page faults and full collections on
/// every image. Arrays have exactly the requested length (the stages check their sizes); each length
/// keeps at most <see cref="PerLength"/> idle arrays: more than the most arrays of one length a
/// forward holds at once (four in an attention stage), or the extras would be dropped and re-allocated
/// on every call. A buffer is returned by whoever rented it once
/// nothing reads it any more; the contents of a rented buffer are undefined.
/// </summary>
internal static class TinyViTPool
{
    private const int PerLength = 8;
    private static readonly Dictionary<int, Stack<float[]>> Idle = new();

    public static float[] Rent(int length)
    {
        lock (Idle)
            if (Idle.TryGetValue(length, out var stack) && stack.Count > 0) return stack.Pop();
        return GC.AllocateUninitializedArray<float>(length);
    }

    public static void Return(float[] buffer)
    {
        lock (Idle)
        {
            if (!Idle.TryGetValue(buffer.Length, out var stack)) Idle[buffer.Length] = stack = new Stack<float[]>();
            if (stack.Count < PerLength && !stack.Contains(buffer)) stack.Push(buffer);
        }
    }
}
